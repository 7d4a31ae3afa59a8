"""Budget holds as leases: what a hold, a settlement and a release do to a ledger.

A hold is a reservation with an id and an expiry (the request's deadline plus a margin).
However a request ends, its hold goes: settled at the real cost, released, or, when
neither arrives (the process died, the settlement was cut off by an outage), given back
when its lease runs out, by the next operation on that budget. So no crash or outage
leaks budget for longer than one lease.

Each settlement and release is idempotent by hold id, which makes a retry safe (a write
that timed out may or may not have been applied): the id's outcome is remembered for
``retention`` seconds. A settlement that arrives after its hold expired, or whose hold the
ledger lost (a Redis restart without persistence), charges the whole cost, since the hold
it would have replaced is no longer counted: the ledger never under-counts what was
billed. A hold that arrives after its own release (a write delayed in a hung server) is
refused rather than left to leak for a lease.

For Redis, each script touches one budget's keys, all under the budget's hash tag
(the total ``ponder:budget:{name}``; ``ponder:lease:{name}``, ``...:amounts`` and
``...:done:<id>``): one slot, so the scripts run unchanged on a Redis Cluster. A request
held against two budgets (its key's and the global one) makes one hold per budget, each
atomic against its own limit; none of the guarantees needs the two in one script.
"""

from __future__ import annotations

# The ledger's total as a number (0 when absent), or an error naming a key that holds
# something else: read first by every script that touches a total. KEYS[1]: the total.
READ_TOTAL = """
local raw = redis.call('GET', KEYS[1])
local total = 0
if raw then
  total = tonumber(raw)
  if not total then
    return redis.error_reply('ponder ledger key ' .. KEYS[1] .. ' does not hold a number')
  end
end
"""

# The shared prologue: the server's clock (one clock for every replica) and the reaping
# of up to 100 expired holds of this budget, each given back to the total and remembered
# as gone. KEYS: total, holds (zset id -> expiry ms), amounts (hash id -> amount).
# ARGV[1]: hold id; ARGV[2]: retention of outcomes in ms.
_PROLOGUE = (
    """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local retention = tonumber(ARGV[2])
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, 100)
for _, old in ipairs(expired) do
  local amount = tonumber(redis.call('HGET', KEYS[3], old) or '0')
  if amount ~= 0 then
    redis.call('INCRBYFLOAT', KEYS[1], -amount)
  end
  redis.call('HDEL', KEYS[3], old)
  redis.call('ZREM', KEYS[2], old)
  redis.call('SET', KEYS[2] .. ':done:' .. old, 'gone', 'PX', retention)
end
"""
    + READ_TOTAL
    + """
local id = ARGV[1]
local done = KEYS[2] .. ':done:' .. id
"""
)

# ARGV[3]: amount; ARGV[4]: limit or ""; ARGV[5]: lease in ms. The new total, or nil when
# refused (over the limit, or the id already ended).
HOLD = (
    _PROLOGUE
    + """
if redis.call('EXISTS', done) == 1 or redis.call('HEXISTS', KEYS[3], id) == 1 then
  return false
end
local amount = tonumber(ARGV[3])
if amount > 0 and ARGV[4] ~= '' and total + amount > tonumber(ARGV[4]) then
  return false
end
redis.call('HSET', KEYS[3], id, ARGV[3])
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[5]), id)
return redis.call('INCRBYFLOAT', KEYS[1], ARGV[3])
"""
)

# ARGV[3]: the real cost. The new total (as a string).
SETTLE = (
    _PROLOGUE
    + """
if redis.call('GET', done) == 'settled' then
  return raw or '0'
end
local held = redis.call('HGET', KEYS[3], id)
local delta = tonumber(ARGV[3])
if held then
  delta = delta - tonumber(held)
  redis.call('HDEL', KEYS[3], id)
  redis.call('ZREM', KEYS[2], id)
end
redis.call('SET', done, 'settled', 'PX', retention)
if delta == 0 then
  return raw or '0'
end
return redis.call('INCRBYFLOAT', KEYS[1], delta)
"""
)

# The new total (as a string).
RELEASE = (
    _PROLOGUE
    + """
if redis.call('EXISTS', done) == 1 then
  return raw or '0'
end
redis.call('SET', done, 'gone', 'PX', retention)
local held = redis.call('HGET', KEYS[3], id)
if not held then
  return raw or '0'
end
redis.call('HDEL', KEYS[3], id)
redis.call('ZREM', KEYS[2], id)
return redis.call('INCRBYFLOAT', KEYS[1], -tonumber(held))
"""
)

# The total, once expired holds are given back.
TOTAL = _PROLOGUE + "\nreturn raw or '0'\n"


def lease_keys(key: str) -> list[str]:
    """The keys a lease script is given for the budget whose total is ``key``: all carry
    ``key``'s hash tag, so all live in one slot (the outcome markers too, named after the
    second)."""
    open_at = key.find("{")
    base = f"ponder:lease:{key[open_at:]}" if open_at >= 0 else f"{key}:lease"
    return [key, base, f"{base}:amounts"]


# KEYS[1]: an arm's overrun record; ARGV[1]: a ratio to merge in, or "" to read. The worst
# ratio of billed cost to hold the arm has shown (as a string), or nil if none is recorded.
OVERRUN = """
local raw = redis.call('GET', KEYS[1])
if ARGV[1] == '' then
  return raw
end
if raw and tonumber(raw) >= tonumber(ARGV[1]) then
  return raw
end
redis.call('SET', KEYS[1], ARGV[1])
return ARGV[1]
"""


def overrun_key(arm: str) -> str:
    """Where an arm's worst overrun is kept: its own hash tag (one key, one slot)."""
    return f"ponder:overrun:{{{arm}}}"
