#pragma once

#include <string>

namespace clove::base {

/// A shared object opened at run time (dlopen) instead of linked, for a dependency only some
/// deployments use (libpq for PostgreSQL, libssl for HTTPS upstreams): the others never map it.
/// The caller's headers give the exact function types; Resolve fills them in. Never closed.
class SharedLibrary {
public:
    /// Opens `soname`; on failure error() says so, naming the Debian `package` that provides it.
    SharedLibrary(const char* soname, const char* package);

    /// Sets `fn` to the function `name`, nullptr when it is missing (error() then names the
    /// first missing one) or when the library did not open.
    template <class Fn>
    void Resolve(Fn& fn, const char* name) {
        fn = reinterpret_cast<Fn>(Symbol(name));
    }

    /// Empty when the library opened and every resolved name was found.
    const std::string& error() const { return error_; }

private:
    void* Symbol(const char* name);

    void* handle_ = nullptr;
    std::string soname_;
    std::string error_;
};

}  // namespace clove::base
