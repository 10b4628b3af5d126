-- wrk script: POST one Open Inference Protocol v2 body read from $BODY_FILE to the URL's path.
local f = assert(io.open(os.getenv("BODY_FILE"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
local traceparent = os.getenv("TRACEPARENT")
if traceparent then wrk.headers["traceparent"] = traceparent end
