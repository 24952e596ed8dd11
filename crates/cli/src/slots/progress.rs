//! Migration progress on stderr: an indicatif bar with ETA on a terminal, plain lines otherwise
//! (indicatif hides its bars when stderr is not a TTY, which would leave logs silent).

use cairn_slots::migrate::Progress;
use cairn_slots_planner::Move;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Progress for `apply`, `resume` and `fix`.
pub struct MoveProgress {
    bar: Option<ProgressBar>,
    plain: Mutex<Plain>,
}

struct Plain {
    total: usize,
    done: usize,
    keys: u64,
    started: Instant,
    last: Instant,
}

impl MoveProgress {
    pub fn new() -> MoveProgress {
        let now = Instant::now();
        let bar = std::io::stderr().is_terminal().then(|| {
            let b = ProgressBar::new(0);
            let style = ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} slots  {msg}  ETA {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            b.set_style(style);
            b.enable_steady_tick(Duration::from_millis(200));
            b
        });
        MoveProgress {
            bar,
            plain: Mutex::new(Plain {
                total: 0,
                done: 0,
                keys: 0,
                started: now,
                last: now,
            }),
        }
    }

    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish();
        }
    }

    fn print_plain(p: &mut Plain, force: bool) {
        if !force && p.last.elapsed() < Duration::from_secs(1) {
            return;
        }
        p.last = Instant::now();
        let secs = p.started.elapsed().as_secs_f64();
        let eta = if p.done > 0 {
            secs / p.done as f64 * (p.total - p.done) as f64
        } else {
            0.0
        };
        eprintln!(
            "moved {}/{} slots, {} keys, {:.1}s elapsed, eta {:.0}s",
            p.done, p.total, p.keys, secs, eta
        );
    }
}

impl Progress for MoveProgress {
    fn begin(&self, moves: usize, keys: u64, method: &str) {
        if let Some(b) = &self.bar {
            b.set_length(moves as u64);
            b.set_message(format!("{method}, ~{keys} keys"));
        } else {
            eprintln!("moving {moves} slots (~{keys} keys) with the {method} protocol");
            let mut p = self.plain.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            *p = Plain {
                total: moves,
                done: 0,
                keys: 0,
                started: now,
                last: now,
            };
        }
    }

    fn keys_moved(&self, _slot: u16, keys: u64, _bytes: u64) {
        let mut p = self.plain.lock().unwrap_or_else(|e| e.into_inner());
        p.keys += keys;
        if let Some(b) = &self.bar {
            b.set_message(format!("{} keys", p.keys));
        }
    }

    fn move_done(&self, _mv: &Move) {
        let mut p = self.plain.lock().unwrap_or_else(|e| e.into_inner());
        p.done += 1;
        match &self.bar {
            Some(b) => b.inc(1),
            None => {
                let last = p.done == p.total;
                Self::print_plain(&mut p, last);
            }
        }
    }
}
