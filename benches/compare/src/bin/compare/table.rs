//! Medians, spreads, paired ratios and the one markdown table.

/// One line of the table.
#[derive(Debug, Clone)]
pub struct Row {
    pub workload: String,
    pub figure: String,
    pub client: String,
    pub value: String,
    pub vs_reference: String,
    pub vs_httpbatch: String,
}

/// Median, min and max of the finite values; `None` when there are none.
pub fn spread(v: &[f64]) -> Option<(f64, f64, f64)> {
    let mut v: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    let median = if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    };
    Some((median, v[0], v[v.len() - 1]))
}

/// `median (min–max)` with `digits` decimals, `n=` when more than one value; `—` for none.
pub fn fmt_spread(v: &[f64], digits: usize) -> String {
    match spread(v) {
        None => "—".into(),
        Some((m, lo, hi)) if v.len() > 1 => {
            format!("{m:.digits$} ({lo:.digits$}–{hi:.digits$}, n={})", v.len())
        }
        Some((m, _, _)) => format!("{m:.digits$}"),
    }
}

/// Paired ratios `f(a[r]) / f(b[r])` over the rounds where both are present.
pub fn paired(a: &[Option<f64>], b: &[Option<f64>]) -> Vec<f64> {
    a.iter()
        .zip(b)
        .filter_map(|(x, y)| Some((*x)? / (*y)?))
        .filter(|r| r.is_finite())
        .collect()
}

/// Ratio of two single figures, formatted; `—` when either is missing.
pub fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b != 0.0 => format!("{:.3}×", a / b),
        _ => "—".into(),
    }
}

/// Paired ratios formatted as `median× (min–max, n=…)`.
pub fn fmt_ratios(r: &[f64]) -> String {
    match spread(r) {
        None => "—".into(),
        Some((m, lo, hi)) if r.len() > 1 => {
            format!("{m:.3}× ({lo:.3}–{hi:.3}, n={})", r.len())
        }
        Some((m, _, _)) => format!("{m:.3}×"),
    }
}

/// The table as markdown.
pub fn markdown(rows: &[Row]) -> String {
    let mut s = String::from(
        "| workload | figure | client | value: median (min–max, n) | ratio to reference | ratio to httpbatch (Rust API) |\n\
         |---|---|---|---|---|---|\n",
    );
    for r in rows {
        s += &format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            r.workload, r.figure, r.client, r.value, r.vs_reference, r.vs_httpbatch
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_pairs() {
        assert_eq!(spread(&[3.0, 1.0, 2.0]), Some((2.0, 1.0, 3.0)));
        assert_eq!(spread(&[4.0, 1.0, 2.0, 3.0]), Some((2.5, 1.0, 4.0)));
        assert_eq!(spread(&[f64::NAN]), None);
        let r = paired(
            &[Some(2.0), None, Some(3.0)],
            &[Some(1.0), Some(1.0), Some(2.0)],
        );
        assert_eq!(r, vec![2.0, 1.5]);
        assert_eq!(fmt_ratios(&r), "1.750× (1.500–2.000, n=2)");
        assert_eq!(ratio(Some(1.0), None), "—");
    }
}
