#include "orchestrator/api/errors.h"

#include <nlohmann/json.hpp>

namespace rift::api {

int HttpStatusFor(Code code) {
  switch (code) {
    case Code::kOk:
      return 200;
    case Code::kInvalidArgument:
      return 400;
    case Code::kUnauthenticated:
      return 401;
    case Code::kPermissionDenied:
      return 403;
    case Code::kNotFound:
      return 404;
    case Code::kAlreadyExists:
      return 409;
    case Code::kStaleTerm:
      return 409;
    case Code::kFailedPrecondition:
      return 412;
    case Code::kNotLeader:
      return 421;
    case Code::kResourceExhausted:
      return 429;
    case Code::kUnavailable:
      return 503;
    case Code::kDeadlineExceeded:
      return 504;
    case Code::kInternal:
      return 500;
  }
  return 500;
}

HttpResponse ErrorResponse(int http_status, std::string_view code_name, std::string_view message,
                           const ErrorExtras& extras) {
  nlohmann::json j;
  // Replacement handler: a message may quote malformed input; never throw on bad UTF-8.
  j["error"] = {{"code", std::string(code_name)}, {"message", std::string(message)}};
  for (const auto& [key, value] : extras) {
    if (value) {
      j[key] = *value;
    } else {
      j[key] = nullptr;
    }
  }
  return JsonResponse(http_status,
                      j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

HttpResponse ErrorResponse(const Status& status, const ErrorExtras& extras) {
  return ErrorResponse(HttpStatusFor(status.code()), CodeName(status.code()), status.message(),
                       extras);
}

std::string_view CodeNameForHttpStatus(int http_status) {
  switch (http_status) {
    case 400:
      return "INVALID_ARGUMENT";
    case 401:
      return "UNAUTHENTICATED";
    case 403:
      return "PERMISSION_DENIED";
    case 404:
      return "NOT_FOUND";
    case 405:
      return "METHOD_NOT_ALLOWED";
    case 408:
      return "REQUEST_TIMEOUT";
    case 413:
      return "PAYLOAD_TOO_LARGE";
    case 414:
      return "URI_TOO_LONG";
    case 416:
      return "RANGE_NOT_SATISFIABLE";
    case 421:
      return "NOT_LEADER";
    case 429:
      return "RESOURCE_EXHAUSTED";
    case 431:
      return "HEADERS_TOO_LARGE";
    case 503:
      return "UNAVAILABLE";
    default:
      return http_status >= 500 ? "INTERNAL" : "BAD_REQUEST";
  }
}

}  // namespace rift::api
