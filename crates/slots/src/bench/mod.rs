//! `cairn slots bench`: a load generator that behaves like a correct cluster client.
//!
//! `redis-benchmark --cluster` pins each client to one master and rewrites keys into one slot per
//! node, so it cannot show a slot-layout skew. This generator draws keys from a [`KeySpace`] with
//! a Zipf popularity, mixes reads (`GET`) and writes (`SET`), and routes every request itself
//! through a [`Router`], following `MOVED` and `ASK` while slots migrate.
//!
//! Two ways to load: a closed loop (each client sends its next pipeline as soon as the last one is
//! answered, `clients x pipeline` requests in flight: it measures how fast the cluster can go)
//! and an open loop at a fixed offered rate ([`BenchConfig::rate`]: each pipeline is sent when it
//! is due, however many are still unanswered, the way an application's traffic arrives whether
//! or not a node is slow: it measures whether the cluster keeps up with a given demand).
//!
//! Latency is measured per request until its final answer (including any redirect rounds), from
//! the moment its pipeline is sent (closed loop) or was due (open loop, so a backlog shows in the
//! latency instead of being hidden by sending less: no coordinated omission), recorded in one HDR
//! histogram per client and merged at the end.

pub mod access_log;
pub mod keys;

use crate::client::Timeouts;
use crate::cluster::Cluster;
use crate::router::{RedirectCounts, Router, SlotMap};
use access_log::AccessLog;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use hdrhistogram::Histogram;
use keys::{AccessPattern, KeySpace, Op};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What to run.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// The keys requests draw from.
    pub keys: KeySpace,
    /// Zipf exponent over key ranks (0 = uniform; 0.99 is the classic skew).
    pub zipf: f64,
    /// Fraction of reads, 0..=1.
    pub read_ratio: f64,
    /// Concurrent clients, each with its own connections.
    pub clients: usize,
    /// Requests each client sends per round trip.
    pub pipeline: usize,
    /// How long to run.
    pub duration: Duration,
    /// Size of written values, bytes.
    pub value_size: usize,
    /// Connection and response timeouts of every client connection.
    pub timeouts: Timeouts,
    /// Where to write `key op` lines, if anywhere.
    pub access_log: Option<PathBuf>,
    /// Seed of the random generators (client `i` uses `seed + i`).
    pub seed: u64,
    /// Open loop: requests per second offered in total, spread evenly over the clients, each
    /// pipeline due at a fixed time; `None` for a closed loop.
    pub rate: Option<f64>,
    /// Open loop: most pipelines one client has unanswered; a pipeline due beyond it waits (and
    /// its latency shows the wait), as behind an application's connection pool. `None`: no
    /// limit.
    pub max_in_flight: Option<usize>,
}

impl BenchConfig {
    /// Defaults: 1 client, no pipelining, 10 s, Zipf 0.99, 80% reads, 64-byte values.
    pub fn new(keys: KeySpace) -> BenchConfig {
        BenchConfig {
            keys,
            zipf: 0.99,
            read_ratio: 0.8,
            clients: 1,
            pipeline: 1,
            duration: Duration::from_secs(10),
            value_size: 64,
            timeouts: Timeouts {
                connect: Duration::from_secs(3),
                response: Duration::from_secs(5),
            },
            access_log: None,
            seed: 1,
            rate: None,
            max_in_flight: None,
        }
    }
}

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Latency {
    /// Median.
    pub p50_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// 99.9th percentile.
    pub p999_us: u64,
    /// Maximum.
    pub max_us: u64,
    /// Mean.
    pub mean_us: f64,
}

/// The outcome of a run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BenchReport {
    /// Requests answered successfully.
    pub ops: u64,
    /// Of which reads.
    pub reads: u64,
    /// Of which writes.
    pub writes: u64,
    /// Requests that ended in an error (after redirects and retries).
    pub errors: u64,
    /// The first error seen, for diagnosis.
    pub first_error: Option<String>,
    /// Wall time, seconds.
    pub elapsed_secs: f64,
    /// `ops / elapsed_secs`.
    pub ops_per_sec: f64,
    /// The open-loop rate offered, requests per second (`None`: closed loop).
    pub offered_per_sec: Option<f64>,
    /// Latency of successful requests.
    pub latency: Latency,
    /// `MOVED` redirections followed.
    pub moved: u64,
    /// `ASK` redirections followed.
    pub ask: u64,
    /// `TRYAGAIN`/`CLUSTERDOWN` retries.
    pub retried: u64,
    /// Requests answered per node address.
    pub per_node: BTreeMap<String, u64>,
}

struct ClientResult {
    hist: Histogram<u64>,
    ops: u64,
    reads: u64,
    writes: u64,
    errors: u64,
    first_error: Option<String>,
    redirects: RedirectCounts,
    served: HashMap<Arc<str>, u64>,
}

fn histogram() -> Histogram<u64> {
    // 1 µs .. 10 min at 3 significant digits; the bounds are constants, so this cannot fail.
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds")
}

fn value_of(size: usize, i: u64, n: u64) -> String {
    let mut v = format!("{i}:{n}:");
    if v.len() < size {
        v.extend(std::iter::repeat_n('x', size - v.len()));
    }
    v
}

/// Runs the load against `cluster` on `cfg.clients` new clients and reports.
///
/// # Errors
/// The access log file cannot be created, the parameters are invalid, or a node cannot be
/// reached.
pub async fn run(cluster: &Cluster, cfg: &BenchConfig) -> Result<BenchReport, String> {
    validate(cfg)?;
    Clients::connect(cluster, cfg.clients, cfg.timeouts)
        .await?
        .run(cfg)
        .await
}

fn validate(cfg: &BenchConfig) -> Result<(), String> {
    match cfg.rate {
        Some(rate) if !(rate.is_finite() && rate > 0.0) => Err(format!(
            "the rate {rate} must be a positive number of requests per second"
        )),
        _ => Ok(()),
    }
}

/// Clients connected to every node, for loads run one after another on the same connections
/// (as an application's pool keeps them): no run pays for opening them, nor do the nodes.
pub struct Clients {
    routers: Vec<Router>,
}

impl Clients {
    /// `count` clients (at least one), each connected to every master of `cluster`.
    ///
    /// # Errors
    /// A node cannot be reached.
    pub async fn connect(
        cluster: &Cluster,
        count: usize,
        timeouts: Timeouts,
    ) -> Result<Clients, String> {
        let map = Arc::new(SlotMap::from_cluster(cluster));
        let mut routers: Vec<Router> = (0..count.max(1))
            .map(|_| Router::new(map.clone(), timeouts))
            .collect();
        for r in futures::future::join_all(routers.iter_mut().map(Router::connect_all)).await {
            r.map_err(|e| format!("cannot connect to the cluster: {e}"))?;
        }
        Ok(Clients { routers })
    }

    /// Runs the load `cfg` on these clients (one per client: `cfg.clients` does not apply) and
    /// reports.
    ///
    /// # Errors
    /// The access log file cannot be created, or the parameters are invalid.
    pub async fn run(&mut self, cfg: &BenchConfig) -> Result<BenchReport, String> {
        validate(cfg)?;
        let log = match &cfg.access_log {
            Some(p) => Some(
                AccessLog::create(p).map_err(|e| format!("cannot create {}: {e}", p.display()))?,
            ),
            None => None,
        };
        let clients = self.routers.len();
        let patterns = (0..clients)
            .map(|c| {
                AccessPattern::new(
                    cfg.keys.len(),
                    cfg.zipf,
                    cfg.read_ratio,
                    cfg.seed + c as u64,
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        let start = Instant::now();
        let deadline = start + cfg.duration;
        let mut tasks = Vec::new();
        let routers = std::mem::take(&mut self.routers);
        for (c, (router, pattern)) in routers.into_iter().zip(patterns).enumerate() {
            let log = log.as_ref().map(AccessLog::writer);
            // Open loop: client `c` is due every `interval`, offset by `c / clients` of it.
            let pacing = cfg.rate.map(|rate| {
                let interval =
                    Duration::from_secs_f64((cfg.pipeline.max(1) * clients) as f64 / rate);
                (
                    start + interval.mul_f64(c as f64 / clients as f64),
                    interval,
                )
            });
            tasks.push(tokio::spawn(client_loop(
                cfg.clone(),
                pattern,
                router,
                log,
                pacing,
                deadline,
            )));
        }
        let mut report = BenchReport::default();
        let mut hist = histogram();
        let mut per_node: HashMap<Arc<str>, u64> = HashMap::new();
        for t in tasks {
            let (r, router) = t
                .await
                .map_err(|e| format!("benchmark client failed: {e}"))?;
            self.routers.push(router);
            // Same bounds on both sides: adding cannot fail.
            let _ = hist.add(&r.hist);
            report.ops += r.ops;
            report.reads += r.reads;
            report.writes += r.writes;
            report.errors += r.errors;
            if report.first_error.is_none() {
                report.first_error = r.first_error;
            }
            report.moved += r.redirects.moved;
            report.ask += r.redirects.ask;
            report.retried += r.redirects.retried;
            for (addr, n) in r.served {
                *per_node.entry(addr).or_default() += n;
            }
        }
        if let Some(log) = &log {
            log.flush()
                .map_err(|e| format!("cannot write the access log: {e}"))?;
        }
        report.elapsed_secs = start.elapsed().as_secs_f64();
        report.ops_per_sec = report.ops as f64 / report.elapsed_secs.max(1e-9);
        report.offered_per_sec = cfg.rate;
        report.latency = Latency {
            p50_us: hist.value_at_quantile(0.50),
            p99_us: hist.value_at_quantile(0.99),
            p999_us: hist.value_at_quantile(0.999),
            max_us: hist.max(),
            mean_us: hist.mean(),
        };
        report.per_node = per_node
            .into_iter()
            .map(|(a, n)| (a.to_string(), n))
            .collect();
        Ok(report)
    }
}

/// The answers to one pipeline sent by a router fork, and the fork.
struct Answered {
    answers: Vec<redis::RedisResult<redis::Value>>,
    ops: Vec<Op>,
    micros: u64,
    router: Router,
}

impl ClientResult {
    fn record(
        &mut self,
        answers: Vec<redis::RedisResult<redis::Value>>,
        ops: Vec<Op>,
        micros: u64,
    ) {
        for (answer, op) in answers.into_iter().zip(ops) {
            match answer {
                Ok(_) => {
                    self.hist.saturating_record(micros.max(1));
                    self.ops += 1;
                    match op {
                        Op::Read => self.reads += 1,
                        Op::Write => self.writes += 1,
                    }
                }
                Err(e) => {
                    self.errors += 1;
                    if self.first_error.is_none() {
                        self.first_error = Some(e.to_string());
                    }
                }
            }
        }
    }

    /// Records a fork's answers and takes the fork back into `router`.
    fn record_fork(&mut self, a: Answered, router: &mut Router) {
        self.record(a.answers, a.ops, a.micros);
        router.join(a.router);
    }
}

/// Sends `batch` through a router fork; latency counts from `sent`.
async fn send(
    mut router: Router,
    batch: Vec<(u16, redis::Cmd)>,
    ops: Vec<Op>,
    sent: Instant,
) -> Answered {
    let answers = router.query_batch(batch).await;
    Answered {
        answers,
        ops,
        micros: sent.elapsed().as_micros() as u64,
        router,
    }
}

async fn client_loop(
    cfg: BenchConfig,
    mut pattern: AccessPattern,
    mut router: Router,
    mut log: Option<access_log::AccessLogWriter>,
    mut pacing: Option<(Instant, Duration)>,
    deadline: Instant,
) -> (ClientResult, Router) {
    let mut r = ClientResult {
        hist: histogram(),
        ops: 0,
        reads: 0,
        writes: 0,
        errors: 0,
        first_error: None,
        redirects: RedirectCounts::default(),
        served: HashMap::new(),
    };
    // Open loop: pipelines still unanswered when the next one is due.
    let mut in_flight = FuturesUnordered::new();
    let mut n: u64 = 0;
    let depth = cfg.pipeline.max(1);
    loop {
        // Latency counts from when the pipeline was due (open loop) or is sent (closed loop).
        let sent = match &mut pacing {
            Some((due, interval)) => {
                let this = *due;
                if this >= deadline {
                    break;
                }
                let wait = tokio::time::sleep_until(this.into());
                tokio::pin!(wait);
                loop {
                    tokio::select! {
                        () = &mut wait => break,
                        Some(a) = in_flight.next() => r.record_fork(a, &mut router),
                    }
                }
                *due += *interval;
                this
            }
            None if Instant::now() >= deadline => break,
            None => Instant::now(),
        };
        let mut batch = Vec::with_capacity(depth);
        let mut ops = Vec::with_capacity(depth);
        for _ in 0..depth {
            let (i, op) = pattern.draw();
            let (key, slot) = cfg.keys.key_and_slot(i);
            let mut cmd = match op {
                Op::Read => redis::cmd("GET"),
                Op::Write => redis::cmd("SET"),
            };
            cmd.arg(&key);
            if op == Op::Write {
                n += 1;
                cmd.arg(value_of(cfg.value_size, i, n));
            }
            if let Some(log) = log.as_mut() {
                log.record(&key, op);
            }
            batch.push((slot, cmd));
            ops.push(op);
        }
        if pacing.is_some() {
            // Sent now, whatever is still unanswered (up to the limit): the demand does not wait
            // for the cluster.
            while cfg
                .max_in_flight
                .is_some_and(|max| in_flight.len() >= max.max(1))
            {
                if let Some(a) = in_flight.next().await {
                    r.record_fork(a, &mut router);
                }
            }
            in_flight.push(send(router.fork(), batch, ops, sent));
        } else {
            let answers = router.query_batch(batch).await;
            r.record(answers, ops, sent.elapsed().as_micros() as u64);
        }
    }
    while let Some(a) = in_flight.next().await {
        r.record_fork(a, &mut router);
    }
    r.redirects = std::mem::take(&mut router.redirects);
    r.served = std::mem::take(&mut router.served);
    (r, router)
}

/// The outcome of [`populate`].
#[derive(Debug, Clone, Default, Serialize)]
pub struct PopulateReport {
    /// Keys written.
    pub keys: u64,
    /// Distinct slots written to.
    pub slots: usize,
    /// Wall time, seconds.
    pub elapsed_secs: f64,
}

/// Writes every key of `keys` with a `value_size`-byte value, slot by slot: keys are grouped by
/// slot, each slot's keys go to its owner in `MSET`s of up to `batch` keys, and `parallel`
/// `MSET`s are in flight at once.
///
/// # Errors
/// The first write that failed (after redirects), with its slot.
pub async fn populate(
    cluster: &Cluster,
    keys: &KeySpace,
    value_size: usize,
    batch: usize,
    parallel: usize,
) -> Result<PopulateReport, String> {
    let start = Instant::now();
    let mut by_slot: BTreeMap<u16, Vec<u64>> = BTreeMap::new();
    for i in 0..keys.len() {
        by_slot.entry(keys.key_and_slot(i).1).or_default().push(i);
    }
    let mut commands: Vec<(u16, redis::Cmd)> = Vec::new();
    for (&slot, members) in &by_slot {
        for chunk in members.chunks(batch.max(1)) {
            let mut cmd = redis::cmd("MSET");
            for &i in chunk {
                cmd.arg(keys.key(i)).arg(value_of(value_size, i, 0));
            }
            commands.push((slot, cmd));
        }
    }
    let map = Arc::new(SlotMap::from_cluster(cluster));
    let mut router = Router::new(
        map,
        Timeouts {
            connect: Duration::from_secs(3),
            response: Duration::from_secs(30),
        },
    );
    let mut commands = commands.into_iter().peekable();
    while commands.peek().is_some() {
        let wave: Vec<(u16, redis::Cmd)> = commands.by_ref().take(parallel.max(1)).collect();
        let slots: Vec<u16> = wave.iter().map(|(s, _)| *s).collect();
        for (answer, slot) in router.query_batch(wave).await.into_iter().zip(slots) {
            if let Err(e) = answer {
                return Err(format!("writing keys of slot {slot} failed: {e}"));
            }
        }
    }
    Ok(PopulateReport {
        keys: keys.len(),
        slots: by_slot.len(),
        elapsed_secs: start.elapsed().as_secs_f64(),
    })
}
