//! Kubernetes quantities for the two resources berth limits: memory in bytes and CPUs.

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

/// Bytes as a quantity, in the largest binary unit that divides them exactly.
pub(super) fn memory(bytes: i64) -> Quantity {
    for (unit, size) in [("Gi", 1i64 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10)] {
        if bytes % size == 0 {
            return Quantity(format!("{}{unit}", bytes / size));
        }
    }
    Quantity(bytes.to_string())
}

/// CPUs as a quantity: whole CPUs plainly, else millicores (rounded to the nearest).
pub(super) fn cpus(cpus: f64) -> Quantity {
    let millis = (cpus * 1000.0).round() as i64;
    if millis % 1000 == 0 { Quantity((millis / 1000).to_string()) } else { Quantity(format!("{millis}m")) }
}

/// A memory quantity in bytes: a plain or decimal number with an optional SI (`k`, `M`, `G`, `T`, `P`,
/// `E`) or binary (`Ki`...`Ei`) suffix, or an exponent (`129e6`).
pub(super) fn parse_memory(q: &Quantity) -> Result<i64, String> {
    let text = q.0.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    let number: f64 = number.parse().map_err(|_| format!("{text:?} is not a quantity"))?;
    let factor: f64 = match suffix {
        "" => 1.0,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        s if s.starts_with(['e', 'E']) => {
            10f64.powi(s[1..].parse::<i32>().map_err(|_| format!("{text:?} has a bad exponent"))?)
        }
        other => return Err(format!("{text:?} has an unknown suffix {other:?}")),
    };
    Ok((number * factor).ceil() as i64)
}

/// A CPU quantity in CPUs: `2`, `1.5` or `500m`.
pub(super) fn parse_cpus(q: &Quantity) -> Result<f64, String> {
    let text = q.0.trim();
    let bad = || format!("{text:?} is not a CPU quantity");
    match text.strip_suffix('m') {
        Some(millis) => millis.parse::<f64>().map(|m| m / 1000.0).map_err(|_| bad()),
        None => text.parse::<f64>().map_err(|_| bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        assert_eq!(memory(256 << 20).0, "256Mi");
        assert_eq!(memory(1 << 30).0, "1Gi");
        assert_eq!(memory(1000).0, "1000");
        assert_eq!(parse_memory(&memory(123 << 20)), Ok(123 << 20));
        assert_eq!(parse_memory(&Quantity("1G".into())), Ok(1_000_000_000));
        assert_eq!(parse_memory(&Quantity("129e6".into())), Ok(129_000_000));
        assert!(parse_memory(&Quantity("12Q".into())).is_err());
        assert_eq!(cpus(1.5).0, "1500m");
        assert_eq!(cpus(2.0).0, "2");
        assert_eq!(parse_cpus(&Quantity("250m".into())), Ok(0.25));
        assert_eq!(parse_cpus(&cpus(0.5)), Ok(0.5));
    }
}
