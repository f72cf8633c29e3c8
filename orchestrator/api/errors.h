#pragma once
// The one JSON error shape and the one place mapping rift::Code to HTTP status:
//   {"error":{"code":"NOT_LEADER","message":"..."}, <extra top-level fields>}
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "orchestrator/api/http.h"
#include "orchestrator/base/status.h"

namespace rift::api {

// InvalidArgument 400, Unauthenticated 401, PermissionDenied 403, NotFound 404, AlreadyExists
// 409, StaleTerm 409, FailedPrecondition 412, ResourceExhausted 429, NotLeader 421,
// DeadlineExceeded 504, Unavailable 503, Internal (and anything else) 500.
int HttpStatusFor(Code code);

// Extra top-level fields; nullopt renders as JSON null.
using ErrorExtras = std::map<std::string, std::optional<std::string>>;

// `status` must not be OK.
HttpResponse ErrorResponse(const Status& status, const ErrorExtras& extras = {});
// For errors found by the HTTP layer itself (404 route, 405 method, 413 body ...).
HttpResponse ErrorResponse(int http_status, std::string_view code_name, std::string_view message,
                           const ErrorExtras& extras = {});

// Code name for an HTTP status produced outside the handlers (e.g. "PAYLOAD_TOO_LARGE").
std::string_view CodeNameForHttpStatus(int http_status);

}  // namespace rift::api
