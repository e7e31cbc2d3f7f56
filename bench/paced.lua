-- wrk script: every connection waits PACE milliseconds after each response before it sends the
-- next request, so the load is about connections x 1000 / (PACE + latency) requests/s whatever
-- the server: with 64 connections and 2 ms, ~30,000/s, which every server here keeps up with.
-- At that equal load the p99 is the server's own delay, not the scheduler's: when the load
-- generator and the server both want all of a 2-core machine, tails are whole ticks
-- (docs/benchmarks.md). wrk starts a request's clock when it writes it: the pause is not in it.
--   wrk -s bench/paced.lua http://127.0.0.1:8080 -- /1k.bin 2

init = function(args)
   local path = args[1] or "/"
   pace = tonumber(args[2] or "2")
   req = wrk.format("GET", path)
end

request = function()
   return req
end

delay = function()
   return pace
end
