"""The Redis store's server-side scripts (Lua), each run by EVALSHA in one round trip.

Keys and arguments are listed above each script; ivr.stores.redis_store sends them. A script
either does all it writes or nothing: Redis runs one script at a time.
"""

from __future__ import annotations

# Take a call's lock and read its record: 0 if another request holds it, else the record's
# fields {started_at, expires_at, reference, caller, line} (nil where missing), whether the record
# exists, and whether a candidate reference number is taken (a new call's number, checked in the
# same trip). The session is read by a GET sent with it, in the same trip: while this request
# holds the lock no other request writes it.
# KEYS: lock:<sid>, call:<sid>, session:<sid> (the GET's), ref:<candidate>; ARGV: token, lease ms
READ = """
if not redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 0 end
local found = redis.call('hmget', KEYS[2], 'started_at', 'expires_at', 'reference', 'caller', 'line')
found[6] = redis.call('exists', KEYS[2])
found[7] = redis.call('exists', KEYS[4])
return found
"""

# A step's writes, applied only while the call's lock holds its token; then the lock is freed.
# 1: written; 0: the lock holds another token (the lease lapsed): nothing written; -1: a
# reference number to claim is held by another call: nothing written, the lock freed.
# KEYS: lock, call, session, events, recent, live:<line>, then the references claimed, then
#   the references released.
# ARGV: [1] token, [2] sid, [3] record ttl (s), [4] session JSON ('' for none), [5] session
#   ttl (s), [6] live score ('' for no live update), [7] live cutoff, [8] start time ('' for no
#   update of `recent`), [9] recent cutoff, then the counts [10] of record fields deleted, [11]
#   of record field-value items set, [12] of events, [13] of references claimed, [14] released;
#   then the deleted field names, the field-value items, the events (JSON).
COMMIT = """
local a = ARGV
if redis.call('get', KEYS[1]) ~= a[1] then return 0 end
local cleared, items, events = tonumber(a[10]), tonumber(a[11]), tonumber(a[12])
local claimed, released = tonumber(a[13]), tonumber(a[14])
for k = 7, 6 + claimed do
  local holder = redis.call('get', KEYS[k])
  if holder and holder ~= a[2] then
    redis.call('del', KEYS[1])
    return -1
  end
end
local i = 15
if cleared > 0 then
  redis.call('hdel', KEYS[2], unpack(a, i, i + cleared - 1))
  i = i + cleared
end
if items > 0 then
  redis.call('hset', KEYS[2], unpack(a, i, i + items - 1))
  redis.call('expire', KEYS[2], a[3])
  i = i + items
end
if a[4] ~= '' then redis.call('set', KEYS[3], a[4], 'EX', a[5]) end
if events > 0 then
  redis.call('rpush', KEYS[4], unpack(a, i, i + events - 1))
  redis.call('expire', KEYS[4], a[3])
end
for k = 7 + claimed, 6 + claimed + released do redis.call('del', KEYS[k]) end
for k = 7, 6 + claimed do redis.call('set', KEYS[k], a[2], 'EX', a[3]) end
if a[8] ~= '' then
  redis.call('zadd', KEYS[5], a[8], a[2])
  redis.call('zremrangebyscore', KEYS[5], '-inf', a[9])
end
if a[6] ~= '' then
  redis.call('zadd', KEYS[6], a[6], a[2])
  redis.call('zremrangebyscore', KEYS[6], '-inf', a[7])
end
redis.call('del', KEYS[1])
return 1
"""

# Close a call's record after its final status, in one trip when the caller guessed the call's
# line and session right (it served the call's last step): 1 closed; 0 no such call (nothing
# written); -1 a request holds the call (nothing written: try again); else {line, session ('' for
# none)} as they are (nothing written: send the ended session worked out from these).
# KEYS: lock, call, session, live:<line>, ended:<line> (of the guessed line)
# ARGV: [1] the session guessed ('' for none), [2] that session ended (JSON), [3] the line
#   guessed, [4] status, [5] now, [6] record ttl (s), [7] ended cutoff, [8] sid, [9] '1' when
#   [1] and [3] are a guess at all
END = """
if redis.call('exists', KEYS[1]) == 1 then return -1 end
if redis.call('exists', KEYS[2]) == 0 then return 0 end
local record = redis.call('hmget', KEYS[2], 'line', 'state', 'outcome')
local line, raw = record[1] or '', redis.call('get', KEYS[3]) or ''
if ARGV[9] ~= '1' or line ~= ARGV[3] or raw ~= ARGV[1] then return {line, raw} end
local now, sid = ARGV[5], ARGV[8]
if record[3] then
  redis.call('hset', KEYS[2], 'status', ARGV[4], 'ended_at', now, 'updated_at', now)
else
  redis.call('hset', KEYS[2], 'status', ARGV[4], 'ended_at', now, 'updated_at', now,
             'outcome', 'hung up in ' .. (record[2] or ''))
end
if raw ~= '' then redis.call('set', KEYS[3], ARGV[2], 'KEEPTTL') end
redis.call('zrem', KEYS[4], sid)
redis.call('zadd', KEYS[5], now, sid)
redis.call('expire', KEYS[5], ARGV[6])
redis.call('zremrangebyscore', KEYS[5], '-inf', ARGV[7])
return 1
"""

# Delete a lock only while it still holds our token: after a lapse it may be another's.
# KEYS: the lock; ARGV: the token
RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"

# One failure counted, the failures of the window returned.
# KEYS: failures:<key>; ARGV: window start, now, member, ttl (s)
COUNT_FAILURE = """
redis.call('zremrangebyscore', KEYS[1], '-inf', ARGV[1])
redis.call('zadd', KEYS[1], ARGV[2], ARGV[3])
local count = redis.call('zcount', KEYS[1], '(' .. ARGV[1], '+inf')
redis.call('expire', KEYS[1], ARGV[4])
return count
"""

# A member's row (JSON); nil when the directory has no such member; 0 when the directory itself
# is gone (to be seeded again).
# KEYS: members:<kid>; ARGV: the member's ID hash
MEMBER = """
local row = redis.call('hget', KEYS[1], ARGV[1])
if row then return row end
if redis.call('exists', KEYS[1]) == 0 then return 0 end
return false
"""

# Write a page call; a new live one only while its line has fewer than the limit (-1: none).
# KEYS: page:<sid>, pages, pages:<line>, pagesall:<line>;
# ARGV: sid, json, expires_at, now, limit, ended, ttl ms
PUT_PAGE = """
redis.call('zremrangebyscore', KEYS[3], '-inf', '(' .. ARGV[4])
redis.call('zremrangebyscore', KEYS[4], '-inf', '(' .. ARGV[4])
if ARGV[6] == '0' then
  local limit = tonumber(ARGV[5])
  if limit >= 0 and not redis.call('zscore', KEYS[3], ARGV[1])
     and redis.call('zcard', KEYS[3]) >= limit then
    return 0
  end
  redis.call('zadd', KEYS[2], ARGV[3], ARGV[1])
  redis.call('zadd', KEYS[3], ARGV[3], ARGV[1])
else
  redis.call('zrem', KEYS[2], ARGV[1])
  redis.call('zrem', KEYS[3], ARGV[1])
end
redis.call('zadd', KEYS[4], ARGV[3], ARGV[1])
redis.call('set', KEYS[1], ARGV[2], 'PX', ARGV[7])
return 1
"""
