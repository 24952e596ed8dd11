//! Number formatting for the human outputs.

/// `1536` -> `1.5 KiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// `1234567` -> `1.23M`, `5321` -> `5.32k`, `12` -> `12`.
pub fn count(n: f64) -> String {
    if n >= 1e6 {
        format!("{:.2}M", n / 1e6)
    } else if n >= 1e4 {
        format!("{:.1}k", n / 1e3)
    } else if n.fract() == 0.0 || n >= 100.0 {
        format!("{n:.0}")
    } else {
        format!("{n:.1}")
    }
}

/// Slot ranges as `0-5460 6000 7000-7010`, at most `max` of them then `(+N more)`.
pub fn ranges(ranges: &[(u16, u16)], max: usize) -> String {
    let mut parts: Vec<String> = ranges
        .iter()
        .take(max)
        .map(|&(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            }
        })
        .collect();
    if ranges.len() > max {
        parts.push(format!("(+{} more)", ranges.len() - max));
    }
    parts.join(" ")
}

/// The first 8 characters of a node id.
pub fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(3 * 1024 * 1024 * 1024), "3.0 GiB");
        assert_eq!(count(12.0), "12");
        assert_eq!(count(2.25), "2.2");
        assert_eq!(count(53_210.0), "53.2k");
        assert_eq!(count(1_234_567.0), "1.23M");
        assert_eq!(
            ranges(&[(0, 10), (12, 12), (20, 30)], 2),
            "0-10 12 (+1 more)"
        );
        assert_eq!(short("0123456789abcdef"), "01234567");
    }
}
