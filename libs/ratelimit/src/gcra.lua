-- GCRA for one key, atomically, on the Redis clock (so replicas with skewed clocks share one limit).
-- KEYS[1]: the bucket, holding its theoretical arrival time (TAT) in microseconds since the Unix epoch.
-- ARGV[1]: the emission interval in microseconds (60 s / N); ARGV[2]: the burst N.
-- Returns {allowed (1 or 0), remaining, retry_after_us, reset_after_us}.
-- Times in microseconds stay below 2^53, so Lua's doubles hold them exactly.

-- Redis < 5 replicates scripts verbatim and refuses a write after TIME unless the script switches to effect
-- replication; from Redis 5 that is the default (and from 7 this call is a no-op).
if redis.replicate_commands then
  redis.replicate_commands()
end

local interval = tonumber(ARGV[1])
local capacity = interval * tonumber(ARGV[2])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])

local tat = tonumber(redis.call('GET', KEYS[1]))
if not tat or tat < now then
  tat = now
end
local new_tat = tat + interval
local allow_at = new_tat - capacity

if now < allow_at then
  return {0, 0, allow_at - now, tat - now}
end

local reset_after = new_tat - now
-- %d: a bare number would be formatted with too few digits to round-trip.
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', string.format('%d', math.ceil(reset_after / 1000)))
return {1, math.floor((capacity - reset_after) / interval), 0, reset_after}
