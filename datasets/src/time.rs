//! Date parsing shared by the history loaders: RFC 3339 date-times, plain `YYYY-MM-DD` dates
//! (midnight UTC) and integer Unix seconds all become a [`Timestamp`].

use anyhow::{bail, Result};
use chrono::{DateTime, NaiveDate};
use rechunk_model::Timestamp;

/// Parses one date as the history formats allow it.
pub fn parse(text: &str) -> Result<Timestamp> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<i64>() {
        return Ok(seconds);
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(text) {
        return Ok(dt.timestamp());
    }
    if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        if let Some(midnight) = day.and_hms_opt(0, 0, 0) {
            return Ok(midnight.and_utc().timestamp());
        }
    }
    bail!("date {text:?} is neither RFC 3339 (2024-10-21T12:15:42+01:00), YYYY-MM-DD nor Unix seconds")
}

/// `YYYY-MM-DD` (UTC) of a timestamp, for reports.
pub fn day(ts: Timestamp) -> String {
    DateTime::from_timestamp(ts, 0)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| ts.to_string())
}

/// RFC 3339 (UTC) of a timestamp, for files this crate writes.
pub fn rfc3339(ts: Timestamp) -> String {
    DateTime::from_timestamp(ts, 0)
        .map(|d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| ts.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_three_forms() {
        assert_eq!(parse("2024-10-21T12:15:42+01:00").unwrap(), 1_729_509_342);
        assert_eq!(parse("2024-10-21").unwrap(), 1_729_468_800);
        assert_eq!(parse("1729468800").unwrap(), 1_729_468_800);
        assert!(format!("{:#}", parse("21/10/2024").unwrap_err()).contains("21/10/2024"));
        assert_eq!(day(1_729_509_342), "2024-10-21");
        assert_eq!(rfc3339(1_729_509_342), "2024-10-21T11:15:42Z");
    }
}
