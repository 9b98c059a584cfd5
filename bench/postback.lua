-- bench/postback.lua: wrk script for bench/postback.sh.
--
--   wrk ... -s bench/postback.lua URL -- CLICK_ID_FILE [NONCE]
--
-- Each request is GET /pb?clickid=<id>&txid=<unique>&payout=1.00, the click
-- ids taken in turn (one per line) from CLICK_ID_FILE, each wrk thread
-- starting at a different place in it. A txid is NONCE-<thread>-<counter>,
-- unique across threads and runs, so every postback is a new conversion
-- (perfmark dedupes on offer and txid, not on the click id).

local ids = {}
local n, i, counter = 0, 0, 0
local nonce = "pb"
local threads = 0

-- Runs in wrk's main Lua state, once per thread: number the threads.
function setup(thread)
   threads = threads + 1
   thread:set("tid", threads)
end

function init(args)
   local path = args[1]
   if path == nil then error("postback.lua: usage: -- CLICK_ID_FILE [NONCE]") end
   nonce = args[2] or tostring(os.time())
   for line in io.lines(path) do
      if #line > 0 then
         n = n + 1
         ids[n] = line
      end
   end
   if n == 0 then error("postback.lua: no click ids in " .. path) end
   tid = tid or 1
   i = math.floor(n * (tid - 1) / 8) % n
end

function request()
   i = i % n + 1
   counter = counter + 1
   return wrk.format(nil, "/pb?clickid=" .. ids[i] .. "&txid=" .. nonce .. "-" .. tid .. "-" .. counter ..
                        "&payout=1.00")
end
