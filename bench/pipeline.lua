-- wrk script: HTTP/1.1 pipelining, DEPTH identical GETs of PATH sent in one write.
-- Like wrk's examples/scripts/pipeline.lua, with the path and depth as arguments:
--   wrk -s bench/pipeline.lua http://127.0.0.1:8080 -- /1k.bin 16
-- wrk counts each response as a request; its latency is that of the whole batch.

init = function(args)
   local path = args[1] or "/"
   local depth = tonumber(args[2] or "16")
   local r = {}
   for i = 1, depth do
      r[i] = wrk.format("GET", path)
   end
   req = table.concat(r)
end

request = function()
   return req
end
