//! History format: JSON-lines events and their pairing into completed operations.
//!
//! An event is `{"process", "type", "f", "key", "value", "time_ns", "node"}` (see README.md).
//! `pair` turns the event stream into one [`Op`] per invocation, which the checkers consume.

use std::collections::HashMap;
use std::io::{BufRead, Write};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The kind of a history event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventType {
    /// The client is about to send the request.
    Invoke,
    /// The operation happened, with this result.
    Ok,
    /// The operation definitely did not happen.
    Fail,
    /// Unknown: the operation may or may not have happened (timeouts, lost connections).
    Info,
}

/// The register function an event refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Fun {
    Read,
    Write,
    Cas,
}

/// One line of a history file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub process: u64,
    #[serde(rename = "type")]
    pub kind: EventType,
    pub f: Fun,
    pub key: String,
    #[serde(default)]
    pub value: Value,
    pub time_ns: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

/// The argument or result of a register operation, already decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpValue {
    /// A read; `Some(v)` is what a completed read returned (`None` inside = absent/null).
    Read(Option<Option<i64>>),
    /// A write of this value.
    Write(i64),
    /// Compare-and-set from `expected` (null = absent) to `new`.
    Cas(Option<i64>, i64),
}

/// Outcome of an invocation once paired with its completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Fail,
    /// Timed out, crashed, or never completed: may or may not have taken effect.
    Info,
}

/// A paired operation: invocation plus completion.
#[derive(Debug, Clone, PartialEq)]
pub struct Op {
    /// Index of the invoke event in the history (stable identity for reports).
    pub index: usize,
    pub process: u64,
    pub key: String,
    pub value: OpValue,
    pub outcome: Outcome,
    pub call_ns: u64,
    /// Completion time; `None` means open-ended (info ops and unfinished invocations).
    pub ret_ns: Option<u64>,
    /// Index of the completion event, if there was one.
    pub done_index: Option<usize>,
    pub node: Option<String>,
}

/// Reads a JSON-lines history; blank lines are skipped.
pub fn read_events(reader: impl BufRead) -> Result<Vec<Event>> {
    let mut events = Vec::new();
    for (n, line) in reader.lines().enumerate() {
        let line = line.with_context(|| format!("reading line {}", n + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        let event: Event =
            serde_json::from_str(&line).with_context(|| format!("parsing line {}", n + 1))?;
        events.push(event);
    }
    Ok(events)
}

/// Writes events as JSON lines.
pub fn write_events(mut writer: impl Write, events: &[Event]) -> Result<()> {
    for event in events {
        serde_json::to_writer(&mut writer, event)?;
        writer.write_all(b"\n")?;
    }
    Ok(())
}

fn int_or_null(v: &Value, what: &str) -> Result<Option<i64>> {
    match v {
        Value::Null => Ok(None),
        Value::Number(n) => n
            .as_i64()
            .map(Some)
            .with_context(|| format!("{what}: not an i64")),
        Value::String(s) => s
            .parse()
            .map(Some)
            .with_context(|| format!("{what}: not an integer")),
        other => bail!("{what}: expected integer or null, got {other}"),
    }
}

fn decode_call(event: &Event) -> Result<OpValue> {
    Ok(match event.f {
        Fun::Read => OpValue::Read(None),
        Fun::Write => {
            let v = int_or_null(&event.value, "write value")?;
            OpValue::Write(v.context("write value is null")?)
        }
        Fun::Cas => {
            let Value::Array(pair) = &event.value else {
                bail!("cas value must be [expected, new]");
            };
            if pair.len() != 2 {
                bail!("cas value must have two elements");
            }
            let expected = int_or_null(&pair[0], "cas expected")?;
            let new = int_or_null(&pair[1], "cas new")?.context("cas new value is null")?;
            OpValue::Cas(expected, new)
        }
    })
}

/// Pairs every invoke with the next completion of the same process.
///
/// An invocation that never completes, or that is followed by another invoke of the same
/// process, is treated as `info` (open-ended): the most permissive reading.
pub fn pair(events: &[Event]) -> Result<Vec<Op>> {
    let mut open: HashMap<u64, usize> = HashMap::new();
    let mut ops: Vec<Op> = Vec::new();
    for (index, event) in events.iter().enumerate() {
        let line = index + 1;
        if event.kind == EventType::Invoke {
            if let Some(prev) = open.insert(event.process, ops.len()) {
                ops[prev].outcome = Outcome::Info;
            }
            let value = decode_call(event).with_context(|| format!("line {line}"))?;
            ops.push(Op {
                index,
                process: event.process,
                key: event.key.clone(),
                value,
                outcome: Outcome::Info,
                call_ns: event.time_ns,
                ret_ns: None,
                done_index: None,
                node: event.node.clone(),
            });
            continue;
        }
        let Some(at) = open.remove(&event.process) else {
            bail!(
                "line {line}: completion of process {} without invoke",
                event.process
            );
        };
        let op = &mut ops[at];
        if op.key != event.key || fun_of(op.value) != event.f {
            bail!(
                "line {line}: completion does not match the invoke of process {}",
                op.process
            );
        }
        if event.time_ns < op.call_ns {
            bail!("line {line}: completion earlier than its invoke");
        }
        op.done_index = Some(index);
        complete(op, event).with_context(|| format!("line {line}"))?;
    }
    Ok(ops)
}

fn complete(op: &mut Op, event: &Event) -> Result<()> {
    match event.kind {
        EventType::Invoke => unreachable!("invokes are handled by the caller"),
        EventType::Ok => {
            op.outcome = Outcome::Ok;
            op.ret_ns = Some(event.time_ns);
            if let OpValue::Read(_) = op.value {
                op.value = OpValue::Read(Some(int_or_null(&event.value, "read result")?));
            }
        }
        EventType::Fail => {
            op.outcome = Outcome::Fail;
            op.ret_ns = Some(event.time_ns);
        }
        EventType::Info => {
            op.outcome = Outcome::Info;
            op.ret_ns = None;
        }
    }
    Ok(())
}

/// The function an operation value belongs to.
pub fn fun_of(value: OpValue) -> Fun {
    match value {
        OpValue::Read(_) => Fun::Read,
        OpValue::Write(_) => Fun::Write,
        OpValue::Cas(..) => Fun::Cas,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Vec<Op> {
        pair(&read_events(text.as_bytes()).unwrap()).unwrap()
    }

    #[test]
    fn pairs_invoke_and_completion() {
        let ops = parse(concat!(
            r#"{"process":1,"type":"invoke","f":"read","key":"k","value":null,"time_ns":1}"#,
            "\n",
            r#"{"process":1,"type":"ok","f":"read","key":"k","value":3,"time_ns":2}"#,
            "\n",
            r#"{"process":2,"type":"invoke","f":"cas","key":"k","value":[null,4],"time_ns":3}"#,
        ));
        assert_eq!(ops.len(), 2);
        assert_eq!(ops[0].value, OpValue::Read(Some(Some(3))));
        assert_eq!(ops[0].ret_ns, Some(2));
        assert_eq!(ops[1].value, OpValue::Cas(None, 4));
        assert_eq!(ops[1].outcome, Outcome::Info);
        assert_eq!(ops[1].ret_ns, None);
    }

    #[test]
    fn rejects_orphan_completion() {
        let events = read_events(
            r#"{"process":1,"type":"ok","f":"read","key":"k","value":3,"time_ns":2}"#.as_bytes(),
        )
        .unwrap();
        assert!(pair(&events).is_err());
    }

    #[test]
    fn events_round_trip() {
        let text = r#"{"process":1,"type":"invoke","f":"write","key":"k","value":5,"time_ns":1,"node":"n1"}"#;
        let events = read_events(text.as_bytes()).unwrap();
        let mut out = Vec::new();
        write_events(&mut out, &events).unwrap();
        assert_eq!(String::from_utf8(out).unwrap().trim(), text);
    }
}
