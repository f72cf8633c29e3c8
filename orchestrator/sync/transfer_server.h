#pragma once
// Serving sealed files to pullers (the source side of a transfer). Handlers are plain functions
// over api::HttpRequest/HttpResponse; the router does the token check.
//
//  GET /sync/file?path=<rel>
//    400 bad path, 403 symlink escape, 404 absent or not in the inventory, 409 not sealed or
//    changed on disk since sealed (size/mtime differ from the record: retry after the next scan),
//    412 If-Match names another sha256, 503 + Retry-After when `max_streams` files are already
//    streaming. Otherwise 200, or 206 for one `Range` (bytes=a-b, a-, -n) with Content-Range;
//    an unsatisfiable range gets 416 with `Content-Range: bytes */size`; several ranges get the
//    whole file (200). Headers: Accept-Ranges: bytes, ETag: "<sha256>", X-RingRift-Sha256.
//    The body is read from an fd opened beneath the data root (pread, chunked: flat memory).
//
//  POST /sync/files {"paths":[...]} (at most 1000)
//    200, a chunked stream; per file, one JSON line {"path","size","sha256"}\n followed by
//    exactly `size` bytes; a file that cannot be served gets {"path","error"}\n and no bytes.
//    Takes one stream slot. A file that shrinks while being sent aborts the stream (the client
//    sees a short body and retries what it lacks).
#include <cstddef>
#include <string>

#include "orchestrator/api/router.h"
#include "orchestrator/inventory/inventory.h"

namespace rift::sync {

struct TransferContext {
  std::string data_root;                   // absolute $RINGRIFT_DIR/data
  inventory::Inventory* inventory = nullptr;  // must outlive the routes
  size_t max_streams = 8;                  // simultaneous file bodies (GET + batch) at most
  size_t max_batch_paths = 1000;
};

// Adds GET /sync/file and POST /sync/files (token access) to `router`.
void RegisterTransferRoutes(api::Router* router, const TransferContext& context);

}  // namespace rift::sync
