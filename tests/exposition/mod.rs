//! A validating parser for the Prometheus text exposition format (0.0.4), for
//! `tests/export.rs`: it checks what a scraper relies on, and gives the samples back
//! so tests can assert their values.

use std::collections::{BTreeMap, HashMap, HashSet};

/// One sample: metric name, labels, value.
#[derive(Debug)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// Parses `text`, checking: every line is a `# HELP`, a `# TYPE` or a sample
/// `name{label="value",...} value`; names and label names are valid; label values
/// use only the `\\`, `\"`, `\n` escapes; every sample's family has exactly one TYPE
/// line, before its samples, and its samples are contiguous; counters end in
/// `_total`; every name starts with `taskweave_`; no sample is repeated.
pub fn parse_exposition(text: &str) -> Result<Vec<Sample>, String> {
    if !text.ends_with('\n') {
        return Err("the text must end with a newline".into());
    }
    let mut types: HashMap<String, String> = HashMap::new();
    let mut helps: HashSet<String> = HashSet::new();
    let mut finished_families: HashSet<String> = HashSet::new();
    let mut current: Option<String> = None;
    let mut seen: HashSet<(String, BTreeMap<String, String>)> = HashSet::new();
    let mut samples = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let at = |msg: String| format!("line {}: {msg}: {line:?}", n + 1);
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest
                .split_once(' ')
                .ok_or_else(|| at("HELP without text".into()))?;
            check_metric_name(name).map_err(at)?;
            if help.is_empty() || !helps.insert(name.to_string()) {
                return Err(at("empty or repeated HELP".into()));
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, ty) = rest
                .split_once(' ')
                .ok_or_else(|| at("TYPE without a type".into()))?;
            check_metric_name(name).map_err(at)?;
            if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&ty) {
                return Err(at(format!("unknown type {ty}")));
            }
            if types.insert(name.to_string(), ty.to_string()).is_some() {
                return Err(at("TYPE declared twice".into()));
            }
            if ty == "counter" && !name.ends_with("_total") {
                return Err(at("a counter's name must end in _total".into()));
            }
            if let Some(previous) = current.replace(name.to_string()) {
                finished_families.insert(previous);
            }
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            return Err(at("unexpected comment or empty line".into()));
        }
        let sample = parse_sample(line).map_err(at)?;
        if !sample.name.starts_with("taskweave_") {
            return Err(at("name without the taskweave_ prefix".into()));
        }
        match types.get(&sample.name) {
            None => return Err(at("sample before (or without) its TYPE".into())),
            Some(_) if current.as_deref() != Some(sample.name.as_str()) => {
                return Err(at("samples of a family are not contiguous".into()))
            }
            Some(ty) if ty == "counter" && sample.value < 0.0 => {
                return Err(at("negative counter".into()))
            }
            Some(_) => {}
        }
        if finished_families.contains(&sample.name) {
            return Err(at("family continued after another began".into()));
        }
        if !seen.insert((sample.name.clone(), sample.labels.clone())) {
            return Err(at("repeated sample".into()));
        }
        samples.push(sample);
    }
    Ok(samples)
}

fn check_metric_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':');
    ok.then_some(())
        .ok_or_else(|| format!("invalid metric name {name:?}"))
}

fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line
        .find(['{', ' '])
        .ok_or_else(|| "a sample needs a value".to_string())?;
    let name = &line[..name_end];
    check_metric_name(name)?;
    let mut labels = BTreeMap::new();
    let mut rest = &line[name_end..];
    if let Some(after) = rest.strip_prefix('{') {
        let mut chars = after.char_indices().peekable();
        loop {
            // label name
            let start = chars.peek().map(|&(i, _)| i).ok_or("unterminated labels")?;
            if after[start..].starts_with('}') {
                chars.next();
                break;
            }
            let eq = after[start..].find('=').ok_or("label without '='")? + start;
            let label = &after[start..eq];
            let valid = label
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(format!("invalid label name {label:?}"));
            }
            while chars.peek().is_some_and(|&(i, _)| i <= eq) {
                chars.next();
            }
            if chars.next().map(|(_, c)| c) != Some('"') {
                return Err("label value must be quoted".into());
            }
            let mut value = String::new();
            loop {
                match chars.next().ok_or("unterminated label value")?.1 {
                    '"' => break,
                    '\\' => match chars.next().ok_or("dangling escape")?.1 {
                        '\\' => value.push('\\'),
                        '"' => value.push('"'),
                        'n' => value.push('\n'),
                        c => return Err(format!("invalid escape \\{c}")),
                    },
                    '\n' => return Err("raw newline in a label value".into()),
                    c => value.push(c),
                }
            }
            if labels.insert(label.to_string(), value).is_some() {
                return Err(format!("label {label} repeated"));
            }
            match chars.next().map(|(_, c)| c) {
                Some(',') => continue,
                Some('}') => break,
                _ => return Err("expected ',' or '}' after a label".into()),
            }
        }
        let consumed = chars.peek().map_or(after.len(), |&(i, _)| i);
        rest = &after[consumed..];
    }
    let value_text = rest
        .strip_prefix(' ')
        .ok_or("expected one space before the value")?;
    let mut fields = value_text.split(' ');
    let value = match fields.next().ok_or("missing value")? {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        v => v
            .parse::<f64>()
            .map_err(|e| format!("bad value {v:?}: {e}"))?,
    };
    if let Some(ts) = fields.next() {
        ts.parse::<i64>()
            .map_err(|e| format!("bad timestamp {ts:?}: {e}"))?;
    }
    if fields.next().is_some() {
        return Err("trailing fields".into());
    }
    Ok(Sample {
        name: name.to_string(),
        labels,
        value,
    })
}

/// The value of the sample `name` with exactly `labels`.
pub fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    let want: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    samples
        .iter()
        .find(|s| s.name == name && s.labels == want)
        .unwrap_or_else(|| panic!("no sample {name}{labels:?}"))
        .value
}
