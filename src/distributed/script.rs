//! The Lua scripts the shared limiter runs on the Redis server: each call is atomic, and every
//! time in them comes from the server's clock (`TIME`), so the clocks of the clients never
//! matter.
//!
//! A bucket is one hash: `tat` (GCRA's theoretical arrival time, microseconds on the server's
//! clock, fractional), `t` (microseconds per token) and `burst`. Times are microseconds because
//! a Lua number (a double) holds them exactly to a quarter of a microsecond; numbers are written
//! back with `%.3f`, since Redis would otherwise turn them into text with 14 digits.

/// Admission (reservation form of GCRA). KEYS: the buckets (global, then per-host). ARGV: the
/// tokens wanted `k`, the longest wait the caller accepts in µs (-1: any), the key TTL in ms,
/// then `t` and `burst` for each key (used only when the key does not exist yet: the stored
/// configuration wins, so `set_rate` from any process applies to all).
///
/// Token `j` is admitted at `a = max(now, max_i(tat_i - tau_i))`, after which every bucket
/// moves to `max(tat_i, a) + t_i`: exactly the bound of the local limiter, for all buckets at
/// once. Returns `{1, now, offset_1, ..., offset_k}` (the server's now in µs since the epoch,
/// and the µs from it at which each token may be used) or `{0, wait}` when the first token
/// would come later than the caller accepts (nothing taken).
pub(crate) const ADMIT: &str = r#"
local tm = redis.call('TIME')
local now = tonumber(tm[1]) * 1000000 + tonumber(tm[2])
local want = tonumber(ARGV[1])
local max_wait = tonumber(ARGV[2])
local ttl = tonumber(ARGV[3])
local b = {}
local first = now
for i, key in ipairs(KEYS) do
  local v = redis.call('HMGET', key, 'tat', 't', 'burst')
  local t = tonumber(v[2])
  local burst = tonumber(v[3])
  if not t or not burst then
    t = tonumber(ARGV[2 + 2 * i])
    burst = tonumber(ARGV[3 + 2 * i])
    redis.call('HSET', key, 't', ARGV[2 + 2 * i], 'burst', ARGV[3 + 2 * i])
  end
  local tat = tonumber(v[1]) or now
  local tau = (burst - 1) * t
  b[i] = {key, tat, t, tau}
  if tat - tau > first then first = tat - tau end
end
if max_wait >= 0 and first - now > max_wait then
  return {0, math.ceil(first - now)}
end
local out = {1, now}
for j = 1, want do
  local a = now
  for i = 1, #b do
    if b[i][2] - b[i][4] > a then a = b[i][2] - b[i][4] end
  end
  for i = 1, #b do
    local tat = b[i][2]
    if a > tat then tat = a end
    b[i][2] = tat + b[i][3]
  end
  out[j + 2] = math.ceil(a - now)
end
for i = 1, #b do
  redis.call('HSET', b[i][1], 'tat', string.format('%.3f', b[i][2]))
  local left = math.ceil((b[i][2] - now) / 1000)
  if left < 0 then left = 0 end
  redis.call('PEXPIRE', b[i][1], ttl + left)
end
return out
"#;

/// Changes a bucket's rate: KEYS[1]; ARGV: new `t` (µs), the burst to store if the key is new,
/// the key TTL in ms. The tokens missing from the bucket are kept (rounded up), as in the local
/// limiter's `set_rate`: no free burst, no stranded waiter.
pub(crate) const SET_RATE: &str = r#"
local tm = redis.call('TIME')
local now = tonumber(tm[1]) * 1000000 + tonumber(tm[2])
local new_t = tonumber(ARGV[1])
local v = redis.call('HMGET', KEYS[1], 'tat', 't', 'burst')
local old_t = tonumber(v[2]) or new_t
local tat = tonumber(v[1]) or now
if tat > now then
  tat = now + math.ceil((tat - now) * new_t / old_t * 1000) / 1000
else
  tat = now
end
redis.call('HSET', KEYS[1], 't', ARGV[1], 'tat', string.format('%.3f', tat))
if not v[3] then redis.call('HSET', KEYS[1], 'burst', ARGV[2]) end
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]) + math.ceil((tat - now) / 1000))
return 1
"#;

/// Changes a bucket's burst: KEYS[1]; ARGV: new burst, the `t` to store if the key is new, the
/// key TTL in ms. The tokens available are kept (clamped to the new burst), as locally.
pub(crate) const SET_BURST: &str = r#"
local tm = redis.call('TIME')
local now = tonumber(tm[1]) * 1000000 + tonumber(tm[2])
local burst = tonumber(ARGV[1])
local v = redis.call('HMGET', KEYS[1], 'tat', 't', 'burst')
local t = tonumber(v[2]) or tonumber(ARGV[2])
local old = tonumber(v[3]) or burst
local start = tonumber(v[1]) or now
if start < now then start = now end
local tat
if burst >= old then
  tat = start + t * (burst - old)
else
  tat = start - t * (old - burst)
  if tat < now then tat = now end
end
redis.call('HSET', KEYS[1], 'burst', ARGV[1], 't', string.format('%.3f', t),
  'tat', string.format('%.3f', tat))
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]) + math.ceil((tat - now) / 1000))
return 1
"#;
