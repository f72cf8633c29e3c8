#pragma once
// JSON encoding of envelope batches (nlohmann stays in codec.cc).
//   {"messages":[{"from_id":..,"from_url":..,"to_id":..,"to_url":..,"type":"ping",...}]}
// Decoding validates types and required fields and reports the first problem with its JSON
// path, e.g. `messages[2].term: expected unsigned integer`.
#include <string>
#include <string_view>
#include <vector>

#include "orchestrator/base/status.h"
#include "orchestrator/protocol/messages.h"

namespace rift::protocol {

std::string EncodeBatch(const std::vector<Envelope>& batch);
Result<std::vector<Envelope>> DecodeBatch(std::string_view json);

}  // namespace rift::protocol
