//! The Lua scripts that make each state change atomic.
//!
//! Every key a script touches is passed in `KEYS` (the cluster rule: a script that reaches for a
//! key it did not declare fails mid-way when that key's slot is migrating), and every key shares
//! the queue's hash tag, so a script's keys are always in one slot. Keys that depend on data (a
//! job's de-duplication lock) are read first by the caller and passed in; the scripts re-check
//! what they rely on. Time comes from the server (`TIME`), so heartbeats of processes with
//! skewed clocks compare correctly.
//!
//! Job hash fields: `status` (Redash code), `state` (JSON [`JobState`]), `job` (JSON [`Job`]),
//! `entry` (its current stream entry id), `dedup` (its de-duplication key or empty), `worker`,
//! `attempts` (times started).
//!
//! [`JobState`]: cairn_exec::job::JobState
//! [`Job`]: cairn_exec::job::Job

/// Server time in milliseconds, as a Lua local `now`.
macro_rules! now_ms {
    () => {
        "local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) "
    };
}

/// Creates the stream and its consumer group when missing (a fresh or emptied server).
macro_rules! ensure_group {
    ($key:literal, $group:literal) => {
        concat!(
            "if redis.call('EXISTS', ",
            $key,
            ") == 0 then redis.call('XGROUP', 'CREATE', ",
            $key,
            ", ",
            $group,
            ", '0', 'MKSTREAM') end "
        )
    };
}

/// KEYS: job, stream, lock. ARGV: id, dedup ('' for none), ttl ms, state, job, group.
/// Returns `{1, entry}` when queued (or already queued by an earlier attempt of this call),
/// `{0, holder}` when a live job holds the lock.
pub(crate) const ENQUEUE: &str = concat!(
    "if redis.call('EXISTS', KEYS[1]) == 1 then return {1, redis.call('HGET', KEYS[1], 'entry')} end ",
    "if ARGV[2] ~= '' then ",
    "  local holder = redis.call('GET', KEYS[3]) ",
    "  if holder then return {0, holder} end ",
    "  redis.call('SET', KEYS[3], ARGV[1], 'PX', ARGV[3]) ",
    "end ",
    ensure_group!("KEYS[2]", "ARGV[6]"),
    "local entry = redis.call('XADD', KEYS[2], '*', 'id', ARGV[1]) ",
    "redis.call('HSET', KEYS[1], 'status', '1', 'state', ARGV[4], 'job', ARGV[5], 'entry', entry, 'dedup', ARGV[2], 'attempts', '0', 'worker', '') ",
    "redis.call('PEXPIRE', KEYS[1], ARGV[3]) ",
    "return {1, entry}"
);

/// KEYS: lock. ARGV: id. Deletes the lock only if `id` holds it.
pub(crate) const UNLOCK: &str =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";

/// KEYS: the streams in priority order. ARGV: group, consumer.
/// Reads at most one new entry, from the first stream that has one: `{index, entry, job id}`.
pub(crate) const TAKE: &str = concat!(
    "for i = 1, #KEYS do ",
    "  local k = KEYS[i] ",
    ensure_group!("k", "ARGV[1]"),
    "  local r = redis.pcall('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', '1', 'STREAMS', k, '>') ",
    "  if type(r) == 'table' and r.err then ",
    "    redis.pcall('XGROUP', 'CREATE', k, ARGV[1], '0') ",
    "    r = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', '1', 'STREAMS', k, '>') ",
    "  end ",
    "  if r then local e = r[1][2][1] return {i, e[1], e[2][2]} end ",
    "end ",
    "return false"
);

/// KEYS: job, stream, running. ARGV: entry, group, worker, job id, started state.
/// Acknowledges and deletes the entry, then starts the job if that entry is still its queued
/// one. Returns the job JSON when started (also when this worker already started it through an
/// earlier attempt of this call), nil when the entry was stale (cancelled, expired, re-queued).
pub(crate) const START: &str = concat!(
    now_ms!(),
    "redis.call('XACK', KEYS[2], ARGV[2], ARGV[1]) ",
    "redis.call('XDEL', KEYS[2], ARGV[1]) ",
    "local f = redis.call('HMGET', KEYS[1], 'status', 'entry', 'worker', 'job') ",
    "if f[2] ~= ARGV[1] then return false end ",
    "if f[1] == '2' and f[3] == ARGV[3] then return f[4] end ",
    "if f[1] ~= '1' then return false end ",
    "redis.call('HSET', KEYS[1], 'status', '2', 'state', ARGV[5], 'worker', ARGV[3]) ",
    "redis.call('HINCRBY', KEYS[1], 'attempts', 1) ",
    "redis.call('ZADD', KEYS[3], now, ARGV[4]) ",
    "return f[4]"
);

/// KEYS: job, stream. ARGV: entry, group, job id.
/// Puts an entry that was read but never started back at the end of its stream.
pub(crate) const REDELIVER: &str = concat!(
    "redis.call('XACK', KEYS[2], ARGV[2], ARGV[1]) ",
    "redis.call('XDEL', KEYS[2], ARGV[1]) ",
    "local f = redis.call('HMGET', KEYS[1], 'status', 'entry') ",
    "if f[1] ~= '1' or f[2] ~= ARGV[1] then return 0 end ",
    "local e = redis.call('XADD', KEYS[2], '*', 'id', ARGV[3]) ",
    "redis.call('HSET', KEYS[1], 'entry', e) ",
    "return 1"
);

/// KEYS: job, running, lock. ARGV: status, state, id, ttl ms.
/// Records a new state unless the job is final; a final state stops heartbeat tracking, frees
/// the lock if this job holds it and starts the state's expiry. Returns 1 when recorded.
pub(crate) const UPDATE: &str = concat!(
    "local st = redis.call('HGET', KEYS[1], 'status') ",
    "if not st or st == '3' or st == '4' or st == '5' then return 0 end ",
    "redis.call('HSET', KEYS[1], 'status', ARGV[1], 'state', ARGV[2]) ",
    "if ARGV[1] == '3' or ARGV[1] == '4' or ARGV[1] == '5' then ",
    "  redis.call('ZREM', KEYS[2], ARGV[3]) ",
    "  if redis.call('GET', KEYS[3]) == ARGV[3] then redis.call('DEL', KEYS[3]) end ",
    "  redis.call('PEXPIRE', KEYS[1], ARGV[4]) ",
    "end ",
    "return 1"
);

/// KEYS: job, cancel flag, lock, stream. ARGV: id, ttl ms, cancelled state, group.
/// Raises the cancel flag; a queued job is cancelled at once (entry removed, lock freed).
/// Returns -1 for an unknown job, 1 when cancelled here, 0 when only signalled.
pub(crate) const CANCEL: &str = concat!(
    "local f = redis.call('HMGET', KEYS[1], 'status', 'entry') ",
    "if not f[1] then return -1 end ",
    "redis.call('SET', KEYS[2], '1', 'PX', ARGV[2]) ",
    "if f[1] ~= '1' then return 0 end ",
    "redis.call('HSET', KEYS[1], 'status', '5', 'state', ARGV[3]) ",
    "redis.call('XACK', KEYS[4], ARGV[4], f[2]) ",
    "redis.call('XDEL', KEYS[4], f[2]) ",
    "if redis.call('GET', KEYS[3]) == ARGV[1] then redis.call('DEL', KEYS[3]) end ",
    "redis.call('PEXPIRE', KEYS[1], ARGV[2]) ",
    "return 1"
);

/// KEYS: running. ARGV: heartbeat timeout ms. The ids of started jobs not heartbeated within
/// the timeout (at most 100).
pub(crate) const STALE: &str = concat!(
    now_ms!(),
    "return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[1]), 'LIMIT', 0, 100)"
);

/// KEYS: job, running, lock, stream. ARGV: id, heartbeat timeout ms, mode (`requeue` or
/// `fail`), new state, ttl ms, group.
/// Re-checks that the job is still started and stale, then re-queues it (new entry) or fails
/// it (lock freed, expiry started). Returns 1 re-queued, 2 failed, 0 nothing to do.
pub(crate) const RECOVER: &str = concat!(
    now_ms!(),
    "local score = redis.call('ZSCORE', KEYS[2], ARGV[1]) ",
    "if not score or tonumber(score) > now - tonumber(ARGV[2]) then return 0 end ",
    "redis.call('ZREM', KEYS[2], ARGV[1]) ",
    "if redis.call('HGET', KEYS[1], 'status') ~= '2' then return 0 end ",
    "if ARGV[3] == 'requeue' then ",
    ensure_group!("KEYS[4]", "ARGV[6]"),
    "  local e = redis.call('XADD', KEYS[4], '*', 'id', ARGV[1]) ",
    "  redis.call('HSET', KEYS[1], 'status', '1', 'state', ARGV[4], 'entry', e, 'worker', '') ",
    "  return 1 ",
    "end ",
    "redis.call('HSET', KEYS[1], 'status', '4', 'state', ARGV[4]) ",
    "if redis.call('GET', KEYS[3]) == ARGV[1] then redis.call('DEL', KEYS[3]) end ",
    "redis.call('PEXPIRE', KEYS[1], ARGV[5]) ",
    "return 2"
);

/// KEYS: running, workers, worker. ARGV: worker id, worker JSON ('' when not a worker), worker
/// TTL ms, then the ids of the jobs it runs. Refreshes the heartbeats.
pub(crate) const HEARTBEAT: &str = concat!(
    now_ms!(),
    "for i = 4, #ARGV do redis.call('ZADD', KEYS[1], 'XX', now, ARGV[i]) end ",
    "if ARGV[2] ~= '' then ",
    "  redis.call('SET', KEYS[3], ARGV[2], 'PX', ARGV[3]) ",
    "  redis.call('ZADD', KEYS[2], now, ARGV[1]) ",
    "end ",
    "return now"
);

/// KEYS: workers. ARGV: worker TTL ms. Forgets workers silent for longer, lists the others.
pub(crate) const WORKERS: &str = concat!(
    now_ms!(),
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[1])) ",
    "return redis.call('ZRANGE', KEYS[1], 0, -1)"
);

/// KEYS: the streams. ARGV: group. Per stream: entries not yet read by any worker.
pub(crate) const SIZES: &str = concat!(
    "local out = {} ",
    "for i = 1, #KEYS do ",
    "  local n = 0 ",
    "  if redis.call('EXISTS', KEYS[i]) == 1 then ",
    "    n = redis.call('XLEN', KEYS[i]) ",
    "    local p = redis.pcall('XPENDING', KEYS[i], ARGV[1]) ",
    "    if type(p) == 'table' and not p.err then n = n - tonumber(p[1]) end ",
    "  end ",
    "  out[i] = n ",
    "end ",
    "return out"
);
