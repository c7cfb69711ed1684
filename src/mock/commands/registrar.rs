//! usrloc, dialog and tm commands.

use super::*;

pub(super) fn table_check(a: &Args) -> Result<(), ServerError> {
    if a.str("table_name").as_deref() == Some("location") {
        Ok(())
    } else {
        Err(ServerError::new(404, "Table not found"))
    }
}

pub(super) fn ul_rm(s: &mut State, a: &Args) -> Outcome {
    let r = table_check(a).and_then(|()| s.fix_aor(&a.str("aor").unwrap_or_default()));
    match r {
        Err(e) => Outcome::Done(Err(e)),
        Ok(aor) => {
            // like usrloc's delete_urecord, an unknown AOR is not an error
            let Some(i) = s.usrloc.iter().position(|(x, _)| *x == aor) else {
                return ok();
            };
            let (aor, contacts) = s.usrloc.remove(i);
            for c in &contacts {
                s.emit_contact("E_UL_CONTACT_DELETE", &aor, c);
            }
            s.emit_aor("E_UL_AOR_DELETE", &aor);
            ok()
        }
    }
}

pub(super) fn ul_rm_contact(s: &mut State, a: &Args) -> Outcome {
    let aor = match table_check(a).and_then(|()| s.fix_aor(&a.str("aor").unwrap_or_default())) {
        Ok(aor) => aor,
        Err(e) => return Outcome::Done(Err(e)),
    };
    let contact = a.str("contact").unwrap_or_default();
    let Some(i) = s.usrloc.iter().position(|(x, _)| *x == aor) else {
        return err(404, "AOR not found");
    };
    let Some(j) = s.usrloc[i].1.iter().position(|c| c.uri == contact) else {
        return err(404, "Contact not found");
    };
    let gone = s.usrloc[i].1.remove(j);
    s.emit_contact("E_UL_CONTACT_DELETE", &aor, &gone);
    if s.usrloc[i].1.is_empty() {
        s.usrloc.remove(i);
        s.emit_aor("E_UL_AOR_DELETE", &aor);
    }
    ok()
}

pub(super) fn ul_dump(s: &mut State, a: &Args) -> Outcome {
    let brief = a.int("brief").unwrap_or(0) != 0;
    let t = now();
    let aors = s
        .usrloc
        .iter()
        .map(|(aor, c)| s.aor_value(aor, c, brief, t))
        .collect();
    let domain = Value::Object(
        vec![
            ("name".into(), Value::from("location")),
            ("hash_size".into(), Value::Int(512)),
            ("AORs".into(), Value::Array(aors)),
        ]
        .into(),
    );
    Ok(Value::Object(
        vec![("Domains".into(), Value::Array(vec![domain].into()))].into(),
    ))
    .into()
}

pub(super) fn ul_add(s: &mut State, a: &Args) -> Outcome {
    let aor = match table_check(a).and_then(|()| s.fix_aor(&a.str("aor").unwrap_or_default())) {
        Ok(aor) => aor,
        Err(e) => return Outcome::Done(Err(e)),
    };
    let q = a.str("q").unwrap_or_default();
    let q = match q.parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => {
            let s = format!("{v:.3}");
            s.trim_end_matches('0').trim_end_matches('.').to_owned()
        }
        _ => return err(400, "Bad parameter"),
    };
    let expires = a.int("expires").unwrap_or(0).max(0) as u64;
    let c = Contact {
        uri: a.str("contact").unwrap_or_default(),
        id: 0,
        expires: if expires == 0 { 0 } else { now() + expires },
        q,
        callid: "dfjrewr12386fd6-343@opensips.mi".into(),
        cseq: 1,
        user_agent: "OpenSIPS MI Server".into(),
        flags: a.int("flags").unwrap_or(0),
        methods: a.int("methods").unwrap_or(0),
        socket: None,
    };
    let known = s
        .usrloc
        .iter()
        .find(|(x, _)| *x == aor)
        .map(|(_, cs)| cs.iter().any(|e| e.uri == c.uri));
    let uri = c.uri.clone();
    s.insert_contact(&aor, c);
    if known.is_none() {
        s.emit_aor("E_UL_AOR_INSERT", &aor);
    }
    let stored = s
        .usrloc
        .iter()
        .find(|(x, _)| *x == aor)
        .and_then(|(_, cs)| cs.iter().find(|e| e.uri == uri))
        .cloned();
    if let Some(c) = stored {
        let name = if known == Some(true) {
            "E_UL_CONTACT_UPDATE"
        } else {
            "E_UL_CONTACT_INSERT"
        };
        s.emit_contact(name, &aor, &c);
    }
    ok()
}

pub(super) fn ul_show_contact(s: &mut State, a: &Args) -> Outcome {
    let aor = match table_check(a).and_then(|()| s.fix_aor(&a.str("aor").unwrap_or_default())) {
        Ok(aor) => aor,
        Err(e) => return Outcome::Done(Err(e)),
    };
    match s.usrloc.iter().find(|(x, _)| *x == aor) {
        Some((x, c)) => Ok(s.aor_value(x, c, false, now())).into(),
        None => err(404, "AOR not found"),
    }
}

pub(super) fn dlg_list_any(s: &State, a: &Args, ctx: bool) -> Outcome {
    if let Some(callid) = a.str("callid") {
        let tag = a.str("from_tag");
        return match s
            .dialogs
            .iter()
            .find(|d| d.callid == callid && tag.as_ref().is_none_or(|t| *t == d.caller_tag))
        {
            Some(d) => Ok(Value::Object(
                vec![("Dialog".into(), s.dialog_value(d, ctx))].into(),
            ))
            .into(),
            None => err(404, "No such dialog"),
        };
    }
    if let (Some(index), Some(counter)) = (a.int("index"), a.int("counter")) {
        let list: Vec<Value> = s
            .dialogs
            .iter()
            .skip(index.max(0) as usize)
            .take(counter.max(0) as usize)
            .map(|d| s.dialog_value(d, ctx))
            .collect();
        return Ok(Value::Object(
            vec![
                ("count".into(), Value::Int(s.dialogs.len() as i64)),
                ("Dialogs".into(), Value::Array(list.into())),
            ]
            .into(),
        ))
        .into();
    }
    let list = s.dialogs.iter().map(|d| s.dialog_value(d, ctx)).collect();
    Ok(Value::Object(
        vec![("Dialogs".into(), Value::Array(list))].into(),
    ))
    .into()
}

pub(super) fn dlg_list(s: &mut State, a: &Args) -> Outcome {
    dlg_list_any(s, a, false)
}

pub(super) fn dlg_list_ctx(s: &mut State, a: &Args) -> Outcome {
    dlg_list_any(s, a, true)
}

pub(super) fn dlg_end_dlg(s: &mut State, a: &Args) -> Outcome {
    let mut id = a.str("dialog_id").unwrap_or_default();
    if s.flavor == Flavor::V1 {
        // 1.11 takes a dialog_id or `h_entry h_id`, never a Call-ID, and forgets an ended
        // dialog at once (`dlg_req_within.c` mi_terminate_dlg; INDEX.md surprise 15)
        let number = |v: &str| v.parse::<u64>().ok();
        let Some(n) = number(&id) else {
            return err(400, "Bad parameter");
        };
        if let Some(h_id) = a.str("extra_hdrs").as_deref().and_then(number) {
            id = ((n << 32) | h_id).to_string();
        }
        return match s.dialogs.iter().position(|d| d.id == id && d.state < 5) {
            Some(i) => {
                s.dialogs.remove(i);
                ok()
            }
            None => err(404, "Requested Dialog not found"),
        };
    }
    match s
        .dialogs
        .iter_mut()
        .find(|d| (d.id == id || d.callid == id) && d.state < 5)
    {
        Some(d) => {
            d.state = 5;
            d.timeout = 0;
            ok()
        }
        None => err(404, "Requested Dialog not found"),
    }
}

pub(super) fn profile_get_size(s: &mut State, a: &Args) -> Outcome {
    let profile = a.str("profile").unwrap_or_default();
    let has_value = match profile.as_str() {
        "inbound" => false,
        "caller" => true,
        _ => return err(404, "Profile not found"),
    };
    let value = a.str("value");
    let count = s
        .dialogs
        .iter()
        .filter(|d| d.state < 5)
        .filter(|d| {
            d.profiles
                .iter()
                .any(|(p, v)| *p == profile && value.as_ref().is_none_or(|x| x == v))
        })
        .count();
    Ok(Value::Object(
        vec![(
            "Profile".into(),
            Value::Object(
                vec![
                    ("name".into(), Value::from(profile)),
                    (
                        "value".into(),
                        if has_value {
                            Value::from(value)
                        } else {
                            Value::Null
                        },
                    ),
                    ("count".into(), Value::Int(count as i64)),
                    ("shared".into(), Value::from("no")),
                    ("replicated".into(), Value::from("no")),
                ]
                .into(),
            ),
        )]
        .into(),
    ))
    .into()
}

pub(super) fn list_all_profiles(_: &mut State, _: &Args) -> Outcome {
    let p = |n: &str, v: bool| {
        Value::Object(
            vec![
                ("name".into(), Value::from(n)),
                ("has value".into(), Value::Bool(v)),
            ]
            .into(),
        )
    };
    Ok(Value::Object(
        vec![(
            "Profiles".into(),
            Value::Array(vec![p("inbound", false), p("caller", true)].into()),
        )]
        .into(),
    ))
    .into()
}

/// `unescape_crlf` (ut.h, 3.0+): the two-character sequences `\r` and `\n` become CR, LF.
pub(super) fn unescape_crlf(s: &str) -> String {
    s.replace("\\r", "\r").replace("\\n", "\n")
}

pub(super) fn header<'h>(headers: &'h str, names: &[&str]) -> Option<&'h str> {
    headers
        .split("\r\n")
        .flat_map(|l| l.split('\n'))
        .find_map(|line| {
            let (n, v) = line.split_once(':')?;
            names
                .iter()
                .any(|x| n.trim().eq_ignore_ascii_case(x))
                .then(|| v.trim())
        })
}

pub(super) fn t_uac_dlg(s: &mut State, a: &Args) -> Outcome {
    let method = a.str("method").unwrap_or_default();
    let ruri = a.str("ruri").unwrap_or_default();
    let headers = unescape_crlf(&a.str("headers").unwrap_or_default());
    let body = a.str("body");
    if !(ruri.starts_with("sip:") || ruri.starts_with("sips:") || ruri.starts_with("tel:")) {
        return err(400, "Invalid ruri");
    }
    if method.is_empty() || method.contains(|c: char| !c.is_ascii_alphabetic()) {
        return err(400, "Invalid method");
    }
    let Some(from) = header(&headers, &["From", "f"]) else {
        return err(400, "From missing");
    };
    let Some(to) = header(&headers, &["To", "t"]) else {
        return err(400, "To missing");
    };
    if body.is_some() {
        if header(&headers, &["Content-Type", "c"]).is_none() {
            return err(400, "Content-Type missing");
        }
        if header(&headers, &["Content-Length", "l"]).is_some() {
            return err(400, "Content-Length disallowed");
        }
    }
    let req = UacRequest {
        method: method.clone(),
        ruri,
        headers: headers.clone(),
        next_hop: a.str("next_hop"),
        socket: a.str("socket"),
        body,
    };
    if let Some(sock) = &req.socket {
        if sock != SIP_SOCKET {
            return err(404, "Local socket not found");
        }
    }
    let (reply, delay) = match &s.uac_responder {
        Some(f) => (f(&req), s.uac_delay),
        None if nobody_listens(req.next_hop.as_deref().unwrap_or(&req.ruri)) => (
            UacReply::status("408 Request Timeout"),
            s.uac_delay.max(s.fr_timeout),
        ),
        None => (UacReply::ok(), s.uac_delay),
    };
    s.uac_log.push(req);
    let mut o = vec![("Status".to_owned(), Value::from(&reply.status))];
    if !reply.status.starts_with("408") {
        let to_tag = if to.contains(";tag=") {
            String::new()
        } else {
            ";tag=mock1".into()
        };
        let message = reply.message.unwrap_or_else(|| {
            format!(
                "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK{:x}.0\r\nTo: {to}{to_tag}\r\nFrom: {from}\r\n\
                 CSeq: 10 {method}\r\nCall-ID: {:x}-1@127.0.0.1\r\nServer: opensips-mi mock\r\nContent-Length: 0\r\n\r\n",
                now(),
                s.uac_log.len()
            )
        });
        o.push(("Message".into(), Value::from(message)));
    }
    Outcome::Async {
        delay,
        result: Ok(Value::Object(o.into())),
    }
}

/// `true` for a SIP URI on a loopback IP and port where nothing listens on UDP (the port
/// answers with an ICMP port unreachable): the real server then times out after
/// `fr_timeout`. Other targets (the mock sends no SIP) are taken as answering 200.
fn nobody_listens(uri: &str) -> bool {
    let rest = uri
        .trim_start_matches('<')
        .trim_start_matches("sips:")
        .trim_start_matches("sip:");
    let rest = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    let hostport = rest.split([';', '?', '>']).next().unwrap_or("");
    let addr: std::net::SocketAddr = match hostport.parse() {
        Ok(a) => a,
        Err(_) => match hostport.parse::<std::net::IpAddr>() {
            Ok(ip) => (ip, 5060).into(),
            Err(_) => return false,
        },
    };
    if !addr.ip().is_loopback() {
        return false;
    }
    let local: std::net::SocketAddr = if addr.is_ipv4() {
        ([127, 0, 0, 1], 0).into()
    } else {
        (std::net::Ipv6Addr::LOCALHOST, 0).into()
    };
    let Ok(sock) = std::net::UdpSocket::bind(local) else {
        return false;
    };
    // a SIP keep-alive (CRLF CRLF): ignored by a SIP listener
    if sock.connect(addr).is_err() || sock.send(b"\r\n\r\n").is_err() {
        return false;
    }
    // on loopback the ICMP error is queued while `send` runs: a short wait is plenty (this
    // runs under the mock's state lock)
    let _ = sock.set_read_timeout(Some(Duration::from_millis(5)));
    matches!(
        sock.recv(&mut [0u8; 64]),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused
    )
}
