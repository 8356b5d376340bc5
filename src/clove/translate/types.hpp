#pragma once

#include <optional>
#include <string>

namespace clove::translate {

/// A request the translation layer refuses: answered to the client with `status` (400 mostly)
/// in the front's own error shape.
struct TranslateError {
    int status = 400;
    std::string message;
};

}  // namespace clove::translate
