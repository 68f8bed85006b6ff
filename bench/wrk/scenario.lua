-- wrk driver for bench/run.py: one scenario per run, chosen by environment variables.
--
--   BENCH_MODE      read | search | create
--   BENCH_CLIENTS   clients of the seeded data dir (patient, care team, care plan,
--                   condition, first goal, first practitioner id, access token per line)
--   BENCH_PATH      the type path for create, e.g. /fhir/Goal
--   BENCH_BODY      for create: a file holding the JSON body with @PATIENT@, @CARETEAM@,
--                   @CONDITION@, @GOAL@ and @PRACTITIONER@ placeholders
--   BENCH_EXPECT    the status every response must have (200 or 201)
--
-- Every request picks a random client. Responses with another status are counted per status;
-- done() prints one line "BENCH_JSON {...}" with throughput, latency percentiles and errors.

local mode = os.getenv("BENCH_MODE")
local expect = tonumber(os.getenv("BENCH_EXPECT") or "200")
local type_path = os.getenv("BENCH_PATH") or "/fhir/CarePlan"

local function read_file(path)
  local f = assert(io.open(path, "rb"), "cannot open " .. tostring(path))
  local text = f:read("*a")
  f:close()
  return text
end

local function load_clients(path)
  local rows = {}
  for line in io.lines(path) do
    local row = {}
    for field in line:gmatch("[^\t]+") do
      row[#row + 1] = field
    end
    rows[#rows + 1] = row
  end
  assert(#rows > 0, "no clients in " .. path)
  return rows
end

local clients = load_clients(assert(os.getenv("BENCH_CLIENTS"), "BENCH_CLIENTS not set"))
local body_template = nil
if mode == "create" then
  body_template = read_file(assert(os.getenv("BENCH_BODY"), "BENCH_BODY not set"))
end
local function headers_for(c)
  local headers = {["Authorization"] = "Bearer " .. c[7]}
  if mode == "create" then
    headers["Content-Type"] = "application/fhir+json"
    headers["Prefer"] = "return=representation"
  end
  return headers
end

local function body_for(c)
  local body = body_template
  body = body:gsub("@PATIENT@", c[1])
  body = body:gsub("@CARETEAM@", c[2])
  body = body:gsub("@CONDITION@", c[4])
  body = body:gsub("@GOAL@", c[5])
  body = body:gsub("@PRACTITIONER@", c[6])
  return body
end

local threads = {}

function setup(thread)
  thread:set("thread_no", #threads + 1)
  threads[#threads + 1] = thread
end

function init(args)
  math.randomseed(thread_no * 7919 + os.time())
  bad = 0
  statuses = {}
end

function request()
  local c = clients[math.random(#clients)]
  if mode == "read" then
    return wrk.format("GET", "/fhir/CarePlan/" .. c[3], headers_for(c))
  elseif mode == "search" then
    return wrk.format("GET", "/fhir/CarePlan?patient=Patient/" .. c[1], headers_for(c))
  elseif mode == "create" then
    return wrk.format("POST", type_path, headers_for(c), body_for(c))
  end
  error("unknown BENCH_MODE " .. tostring(mode))
end

function response(status, headers, body)
  if status ~= expect then
    bad = bad + 1
    statuses[status] = (statuses[status] or 0) + 1
  end
end

function done(summary, latency, requests)
  local bad_total, counts, seen = 0, {}, ""
  for _, t in ipairs(threads) do
    bad_total = bad_total + t:get("bad")
    for status, n in pairs(t:get("statuses")) do
      counts[status] = (counts[status] or 0) + n
    end
  end
  for status, n in pairs(counts) do
    seen = seen .. n .. "x" .. status .. " "
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "bytes": %d, "p50_us": %d, "p90_us": %d, '
      .. '"p99_us": %d, "max_us": %d, "mean_us": %.1f, "bad_status": %d, "bad_status_sample": "%s", '
      .. '"connect_errors": %d, "read_errors": %d, "write_errors": %d, "timeouts": %d}\n',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean, bad_total, seen, e.connect, e.read, e.write, e.timeout))
end
