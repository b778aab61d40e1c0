-- wrk script for tests/bench/applications: the two steps of the online flow that write,
-- as an applicant would send them.
--
--   wrk -tT ... -s applications.lua -- create TOKENS_FILE T FIRST_CERT LAST_CERT
--       POST /api/v1/applications, a complete `revoke` draft per request, each about its
--       own certificate (FIRST_CERT..LAST_CERT, inserted by the caller), for wrk's -d;
--       the applicants of TOKENS_FILE ("applicant_id token" lines) take turns.
--   wrk -tT ... -s applications.lua -- submit TOKENS_FILE T IDS_FILE
--       POST /api/v1/applications/{id}/submit once for every draft of IDS_FILE
--       ("id applicant_id" lines), with its applicant's token, then stops sending; the
--       rate is the drafts answered over the time they took, so a list that runs out
--       before -d does not count wrk's idle tail.
-- T is wrk's thread count again (the threads split the certificates and ids by it).
--
-- done() prints one line for the caller to parse:
--   BENCH ok=N bad=N elapsed=SECONDS p50_ms=… p99_ms=… first_bad=STATUS:BODY
-- ok counts 201 (create) or 200 (submit) answers; anything else is bad.

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]]
local ts = ffi.new("bench_timespec")
local function now()
    ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
    return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) * 1e-9
end

-- ---- setup and done run in their own Lua state ----------------------------------------

local threads = {}
local nthreads = 0

function setup(thread)
    thread:set("tid", nthreads)
    nthreads = nthreads + 1
    table.insert(threads, thread)
end

function done(summary, latency, requests)
    local ok, bad, t0, t1, first_bad, exhausted = 0, 0, nil, nil, "", true
    for _, t in ipairs(threads) do
        exhausted = exhausted and t:get("exhausted")
        ok = ok + (t:get("ok") or 0)
        bad = bad + (t:get("bad") or 0)
        local a, b = t:get("t_first"), t:get("t_last")
        if a and (t0 == nil or a < t0) then t0 = a end
        if b and (t1 == nil or b > t1) then t1 = b end
        if first_bad == "" and (t:get("first_bad") or "") ~= "" then first_bad = t:get("first_bad") end
    end
    local elapsed = summary.duration / 1e6
    -- Every thread ran out of ids before -d: the time they took, not wrk's -d.
    if t0 and t1 and exhausted then elapsed = t1 - t0 end
    io.write(string.format("BENCH ok=%d bad=%d elapsed=%.3f p50_ms=%.2f p99_ms=%.2f first_bad=%s\n",
        ok, bad, elapsed, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
        (first_bad:gsub("%s+", " ")):sub(1, 300)))
end

-- ---- the running phase: one Lua state per wrk thread ----------------------------------

local mode
local headers, by_applicant = {}, {} -- one header table per applicant, in turn / by id
local turn = 0
local next_cert, last_cert
local ids, next_id, answered = {}, 1, 0
ok, bad, first_bad, t_first, t_last, exhausted = 0, 0, "", nil, nil, false

local create_template = '{"business_type":"revoke","certificate_type":"org",' ..
    '"certificate_id":%d,"unit_name":"成都市锦城数字科技有限公司",' ..
    '"credit_code":"91510100MA6123456W","handler_name":"张三",' ..
    '"handler_phone":"13800138000","handler_id_number":"11010519491231002X"}'

function init(args)
    mode = args[1]
    for line in io.lines(args[2]) do
        local applicant, token = line:match("^(%d+) (%S+)$")
        local h = { ["Authorization"] = "Bearer " .. token,
                    ["Content-Type"] = "application/json", ["Accept"] = "application/json" }
        table.insert(headers, h)
        by_applicant[applicant] = h
    end
    turn = tid
    -- wrk calls request() once more on thread 0 right after init(), only to count the
    -- requests in what it returns (pipelining), and never sends that one.
    verifying = tid == 0
    -- With several threads each takes every n-th certificate / id.
    local n = tonumber(args[3])
    if mode == "create" then
        next_cert, last_cert = tonumber(args[4]) + tid, tonumber(args[5])
        step = n
    elseif mode == "submit" then
        local i = 0
        for line in io.lines(args[4]) do
            if i % n == tid then
                local id, applicant = line:match("^(%d+) (%d+)$")
                table.insert(ids, { id, by_applicant[applicant] })
            end
            i = i + 1
        end
        if #ids == 0 then exhausted = true end
    else
        error("mode must be create or submit")
    end
end

function delay()
    -- Connections that find the id list used up wait out the run instead of sending.
    if mode == "submit" and next_id > #ids then return 3600000 end
    return 0
end

function request()
    if verifying then
        verifying = false
        return wrk.format("GET", "/api/v1/health")
    end
    if t_first == nil then t_first = now() end
    if mode == "create" then
        local cert = next_cert
        next_cert = next_cert + step
        if cert > last_cert then
            -- Out of certificates: a draft about a used one is still a valid create
            -- (drafts do not hold a certificate); the caller warns when it happens.
            cert = last_cert
        end
        turn = turn + 1
        return wrk.format("POST", "/api/v1/applications", headers[turn % #headers + 1],
            string.format(create_template, cert))
    end
    local draft = ids[next_id]
    next_id = next_id + 1
    return wrk.format("POST", "/api/v1/applications/" .. draft[1] .. "/submit", draft[2], "{}")
end

function response(status, hdrs, body)
    local want = mode == "create" and 201 or 200
    if status == want then
        ok = ok + 1
    else
        bad = bad + 1
        if first_bad == "" then first_bad = status .. ":" .. (body or "") end
    end
    t_last = now()
    if mode == "submit" then
        answered = answered + 1
        if answered >= #ids then
            exhausted = true
            wrk.thread:stop()
        end
    end
end
