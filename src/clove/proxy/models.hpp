#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "clove/proxy/snapshot.hpp"

namespace clove::proxy {

struct ModelEntry {
    std::string id;
    std::string display_name;
    std::string created_at;  ///< RFC 3339
};

/// The models Clove serves, in order: every upstream's literal `models` entries and `model_map`
/// names, then the built-in Claude catalogue entries some upstream's globs match. No duplicates.
std::vector<ModelEntry> ListModels(const Snapshot& snapshot);

/// `GET /v1/models` page in the Anthropic shape (`data`, `has_more`, `first_id`, `last_id`),
/// honouring `limit` (1..1000, default 20), `after_id` and `before_id` from the query string.
/// On a bad `limit` returns nullopt and sets `error`.
std::optional<std::string> ModelsPageJson(const std::vector<ModelEntry>& models, std::string_view query,
                                          std::string& error);

/// `GET /v1/models` in the OpenAI shape: `{object:"list", data:[{id, object:"model", created,
/// owned_by}]}` (all models, no paging), for OpenAI SDK clients.
std::string OpenAIModelsJson(const std::vector<ModelEntry>& models);
/// One OpenAI Model object.
std::string OpenAIModelJson(const ModelEntry& m);

/// One ModelInfo object.
std::string ModelJson(const ModelEntry& m);

}  // namespace clove::proxy
