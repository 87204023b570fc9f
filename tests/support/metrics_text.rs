//! A small reader of the Prometheus / OpenMetrics text exposition that `/metrics` serves:
//! families from `# TYPE` lines, samples with their labels and values.

use std::collections::BTreeMap;

/// One sample line: `name{label="value",...} value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// A parsed exposition.
#[derive(Debug, Clone, Default)]
pub struct Exposition {
    /// Family name to type (`counter`, `gauge`, `histogram`, ...), from `# TYPE` lines.
    pub types: BTreeMap<String, String>,
    pub samples: Vec<Sample>,
    text: String,
}

fn parse_value(text: &str) -> Option<f64> {
    match text {
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ => text.parse().ok(),
    }
}

/// Parses `label="value",...}` (after the opening brace); returns the labels and the rest.
fn parse_labels(mut rest: &str) -> Result<(BTreeMap<String, String>, &str), String> {
    let mut labels = BTreeMap::new();
    loop {
        rest = rest.trim_start_matches([',', ' ']);
        if let Some(after) = rest.strip_prefix('}') {
            return Ok((labels, after));
        }
        let (name, after_name) = rest
            .split_once("=\"")
            .ok_or_else(|| format!("label without =\" in {rest:?}"))?;
        let mut value = String::new();
        let mut chars = after_name.char_indices();
        let end = loop {
            match chars.next() {
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, other)) => value.push(other),
                    None => return Err("unterminated escape".into()),
                },
                Some((index, '"')) => break index,
                Some((_, other)) => value.push(other),
                None => return Err(format!("unterminated label value in {after_name:?}")),
            }
        };
        labels.insert(name.trim().to_owned(), value);
        rest = &after_name[end + 1..];
    }
}

impl Exposition {
    /// Parses the text; panics with the offending line when it is not an exposition.
    pub fn parse(text: &str) -> Exposition {
        let mut exposition = Exposition {
            text: text.to_owned(),
            ..Exposition::default()
        };
        for line in text.lines().map(str::trim).filter(|line| !line.is_empty()) {
            if let Some(comment) = line.strip_prefix('#') {
                let mut words = comment.split_whitespace();
                if words.next() == Some("TYPE")
                    && let (Some(name), Some(kind)) = (words.next(), words.next())
                {
                    exposition.types.insert(name.to_owned(), kind.to_owned());
                }
                continue;
            }
            let sample = Self::parse_sample(line)
                .unwrap_or_else(|error| panic!("bad metrics line {line:?}: {error}\n{text}"));
            exposition.samples.push(sample);
        }
        exposition
    }

    fn parse_sample(line: &str) -> Result<Sample, String> {
        let name_end = line.find(['{', ' ']).ok_or_else(|| "no value".to_owned())?;
        let name = line[..name_end].to_owned();
        let (labels, rest) = if line[name_end..].starts_with('{') {
            parse_labels(&line[name_end + 1..])?
        } else {
            (BTreeMap::new(), &line[name_end..])
        };
        // The value, optionally followed by a timestamp or an exemplar.
        let value_text = rest
            .split_whitespace()
            .next()
            .ok_or_else(|| "no value".to_owned())?;
        let value = parse_value(value_text).ok_or_else(|| format!("bad value {value_text:?}"))?;
        Ok(Sample {
            name,
            labels,
            value,
        })
    }

    /// The text this was parsed from, for failure messages.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The type of family `name` (`# TYPE` line), if declared.
    pub fn family_type(&self, name: &str) -> Option<&str> {
        self.types.get(name).map(String::as_str)
    }

    /// Samples named `name` whose labels include every pair of `labels`.
    pub fn matching<'a>(
        &'a self,
        name: &'a str,
        labels: &'a [(&'a str, &'a str)],
    ) -> impl Iterator<Item = &'a Sample> + 'a {
        self.samples.iter().filter(move |sample| {
            sample.name == name
                && labels
                    .iter()
                    .all(|(key, value)| sample.labels.get(*key).map(String::as_str) == Some(*value))
        })
    }

    /// The value of the one sample named `name` with (at least) `labels`; `None` when there is
    /// none, a panic when there are several.
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let found: Vec<&Sample> = self.matching(name, labels).collect();
        match found.as_slice() {
            [] => None,
            [one] => Some(one.value),
            many => panic!("{} samples of {name} with {labels:?}: {many:?}", many.len()),
        }
    }

    /// Like [`Exposition::get`], but the sample must exist.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.get(name, labels)
            .unwrap_or_else(|| panic!("no sample {name} with {labels:?} in:\n{}", self.text))
    }

    /// The sum of every sample named `name` with (at least) `labels` (0 when none).
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.matching(name, labels).map(|sample| sample.value).sum()
    }
}
