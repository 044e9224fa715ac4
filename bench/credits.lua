-- wrk script: random customers' credits for 24 months (customers from bench/out/customers-*.txt)
local customers = {}
local key = os.getenv("BENCH_KEY") or "bench-admin"
local file = os.getenv("BENCH_CUSTOMERS")
for line in io.lines(file) do customers[#customers + 1] = line end
math.randomseed(7)
request = function()
  local c = customers[math.random(#customers)]
  return wrk.format("GET", "/v1/customers/" .. c .. "/credits?from=2024-01&to=2025-12",
    {["Authorization"] = "Bearer " .. key})
end
