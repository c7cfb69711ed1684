use super::*;

fn fixed(req: SipRequest) -> SipRequest {
    // replace the random tag for exact comparisons
    let from = req
        .headers
        .iter()
        .find(|(n, _)| n == "From")
        .map(|(_, v)| v.clone())
        .unwrap();
    let from = format!("{};tag=T", from.split(";tag=").next().unwrap());
    req.from(&from)
}

#[test]
fn every_preset_gives_its_exact_header_block() {
    let expected = [
        ("aastra_check_cfg", "check-sync"),
        ("aastra-xml", "aastra-xml"),
        ("digium_check_cfg", "check-sync"),
        ("linksys-cold-restart", "reboot_now"),
        ("linksys_warm_restart", "restart_now"),
        ("polycom_check_cfg", "check-sync"),
        ("sipura_check_cfg", "resync"),
        ("sipura-get-report", "report"),
        ("snom_check_cfg", "check-sync;reboot=false"),
        ("snom-reboot", "check-sync;reboot=true"),
        ("cisco_check_cfg", "check-sync"),
        ("avaya_check_cfg", "check-sync"),
        ("grandstream-check-cfg", "sys-control"),
    ];
    for (name, event) in expected {
        let ev = NotifyEvent::preset(name).unwrap();
        let req = fixed(event_notify("sip:1001@10.0.0.21:5060", ev));
        assert_eq!(
            req.header_block().unwrap(),
            format!(
                "From: <sip:1001@10.0.0.21:5060>;tag=T\r\nTo: <sip:1001@10.0.0.21:5060>\r\nContact: <sip:opensips@!!>\r\nEvent: {event}\r\n"
            ),
            "{name}"
        );
        assert!(req.body.is_none());
    }
    assert_eq!(NotifyEvent::preset_names().count(), 13);
    assert_eq!(
        NotifyEvent::custom("my-event").unwrap(),
        NotifyEvent::Custom("my-event".into())
    );
    assert!(NotifyEvent::custom("bad\r\nX: y").is_err());
    assert!(NotifyEvent::custom(" ").is_err());
    // parsing gives presets only: a typo is never sent as a custom event
    assert_eq!(
        "SnomReboot".parse::<NotifyEvent>().unwrap(),
        NotifyEvent::SnomReboot
    );
    for (typo, meant) in [
        ("snom_rebot", "snom_reboot"),
        ("polycom-chek-cfg", "polycom_check_cfg"),
        ("Linksys_Cold_Restrat", "linksys_cold_restart"),
    ] {
        let e = typo.parse::<NotifyEvent>().unwrap_err();
        assert!(matches!(e, crate::Error::InvalidRequest { .. }));
        assert!(
            e.to_string().contains(&format!("did you mean `{meant}`?")),
            "{typo}: {e}"
        );
    }
    let e = "my-event".parse::<NotifyEvent>().unwrap_err().to_string();
    assert!(!e.contains("did you mean"), "{e}");
    assert!(e.contains("NotifyEvent::custom"), "{e}");
}

#[test]
fn generated_tags_are_random_and_caller_headers_win() {
    let a = event_notify("sip:a@b", NotifyEvent::SnomReboot)
        .header_block()
        .unwrap();
    let b = event_notify("sip:a@b", NotifyEvent::SnomReboot)
        .header_block()
        .unwrap();
    assert_ne!(a, b);
    let mine = event_notify("sip:a@b", NotifyEvent::SnomReboot)
        .from("<sip:pbx@b>;tag=1")
        .to("\"Desk\" <sip:a@b>");
    let block = mine.header_block().unwrap();
    assert!(
        block.contains("From: <sip:pbx@b>;tag=1\r\n")
            && block.contains("To: \"Desk\" <sip:a@b>\r\n"),
        "{block}"
    );
    assert_eq!(block.matches("From:").count(), 1);
}

#[test]
fn mwi_bodies() {
    assert_eq!(
        MessageSummary::voice(0, 0).body().unwrap(),
        "Messages-Waiting: no\r\nVoice-Message: 0/0\r\n"
    );
    assert_eq!(
        MessageSummary::voice(5, 0)
            .account("sip:*97@vm.example.com")
            .body()
            .unwrap(),
        "Messages-Waiting: yes\r\nMessage-Account: sip:*97@vm.example.com\r\nVoice-Message: 5/0\r\n"
    );
    assert_eq!(
        MessageSummary::voice_counts(Counts::with_urgent(3, 1, 1, 0))
            .body()
            .unwrap(),
        "Messages-Waiting: yes\r\nVoice-Message: 3/1 (1/0)\r\n"
    );
    assert_eq!(
        MessageSummary::new()
            .class(MessageClass::Fax, Counts::new(2, 0))
            .body()
            .unwrap(),
        "Messages-Waiting: yes\r\nFax-Message: 2/0\r\n"
    );
    assert_eq!(
        MessageSummary::voice(0, 3).waiting(true).body().unwrap(),
        "Messages-Waiting: yes\r\nVoice-Message: 0/3\r\n"
    );
    assert_eq!(
        MessageSummary::new().body().unwrap(),
        "Messages-Waiting: no\r\n"
    );
    let req = fixed(mwi_update("sip:1001@pbx", &MessageSummary::voice(5, 0)).unwrap());
    assert_eq!(
        req.header_block().unwrap(),
        "From: <sip:1001@pbx>;tag=T\r\nTo: <sip:1001@pbx>\r\nContact: <sip:opensips@!!>\r\n\
         Event: message-summary\r\nSubscription-State: active\r\n\
         Content-Type: application/simple-message-summary\r\n"
    );
    assert_eq!(
        req.body.as_deref(),
        Some("Messages-Waiting: yes\r\nVoice-Message: 5/0\r\n")
    );
    // with a message account, the account sends it
    let req = fixed(
        mwi_update(
            "sip:1001@pbx",
            &MessageSummary::voice(1, 0).account("sip:*97@vm.example.com"),
        )
        .unwrap(),
    );
    assert!(
        req.header_block().unwrap().starts_with(
            "From: <sip:*97@vm.example.com>;tag=T\r\nTo: <sip:1001@pbx>\r\nContact: <sip:*97@!!>\r\n"
        ),
        "{}",
        req.header_block().unwrap()
    );
    // another notifier
    let req = fixed(
        mwi_update("sip:1001@pbx", &MessageSummary::voice(1, 0))
            .unwrap()
            .notifier("sip:mwi@pbx.example.com"),
    );
    assert!(
        req.header_block()
            .unwrap()
            .starts_with("From: <sip:mwi@pbx.example.com>;tag=T\r\nTo: <sip:1001@pbx>\r\nContact: <sip:mwi@!!>\r\n"),
        "{}",
        req.header_block().unwrap()
    );
    assert!(
        mwi_update(
            "sip:a@b",
            &MessageSummary::voice(1, 0).account("sip:x\r\nEvil: 1")
        )
        .is_err()
    );
}

#[test]
fn the_message_account_must_be_a_sip_uri() {
    for bad in [
        "3",
        "",
        "1001@vm",
        "tel:+15551234",
        "sip:",
        "<sip:vm@x>",
        "sip:vm @x",
        "-",
    ] {
        let e = mwi_update("sip:a@b", &MessageSummary::voice(3, 1).account(bad)).unwrap_err();
        assert!(matches!(e, crate::Error::InvalidRequest { .. }), "{bad:?}");
        assert!(e.to_string().contains("not a SIP URI"), "{bad:?}: {e}");
    }
    for good in [
        "sip:*97@vm.example.com",
        "SIPS:vm@x:5061;transport=tls",
        "sip:vm",
    ] {
        let req = mwi_update("sip:a@b", &MessageSummary::voice(3, 1).account(good)).unwrap();
        assert!(
            req.header_block()
                .unwrap()
                .starts_with(&format!("From: <{good}>;tag="))
        );
    }
}

#[test]
fn injection_and_rules_are_refused() {
    let base = || {
        uac_dlg("OPTIONS", "sip:a@b")
            .from("<sip:m@b>")
            .to("<sip:a@b>")
    };
    assert!(base().header_block().is_ok());
    assert!(
        base()
            .header("X-Evil", "1\r\nVia: forged")
            .header_block()
            .is_err()
    );
    assert!(base().header("X-Evil\r\nVia", "1").header_block().is_err());
    assert!(base().header("Bad Name", "1").header_block().is_err());
    assert!(
        uac_dlg("OPTIONS", "sip:a@b\r\nX: 1")
            .from("a")
            .to("b")
            .header_block()
            .is_err()
    );
    assert!(
        uac_dlg("OPT IONS", "sip:a@b")
            .from("a")
            .to("b")
            .header_block()
            .is_err()
    );
    assert!(base().next_hop("sip:p\n").header_block().is_err());
    assert!(
        uac_dlg("OPTIONS", "sip:a@b")
            .to("<sip:a@b>")
            .header_block()
            .is_err(),
        "From is required"
    );
    assert!(
        uac_dlg("OPTIONS", "sip:a@b")
            .header("f", "x")
            .header("t", "y")
            .header_block()
            .is_ok(),
        "compact forms count"
    );
    let with_body = base().body("text/plain", "hi");
    assert!(with_body.header_block().is_ok());
    let e = with_body
        .header("Content-Length", "2")
        .header_block()
        .unwrap_err();
    assert!(e.to_string().contains("Content-Length"), "{e}");
    let mut no_type = base();
    no_type.body = Some("x".into());
    assert!(no_type.header_block().is_err());
}

#[test]
fn wire_forms_per_generation() {
    let req = uac_dlg("MESSAGE", "sip:a@b")
        .from("<sip:m@b>")
        .to("<sip:a@b>")
        .body("text/plain", "hello");
    let json = req.to_cmd(Generation::V3).unwrap();
    assert_eq!(
        json.params(),
        &Params::named([
            ("method", "MESSAGE"),
            ("ruri", "sip:a@b"),
            (
                "headers",
                "From: <sip:m@b>\r\nTo: <sip:a@b>\r\nContent-Type: text/plain\r\n"
            ),
            ("body", "hello"),
        ])
    );
    assert_eq!(json.get_timeout(), Some(DEFAULT_UAC_TIMEOUT));
    let legacy = req
        .clone()
        .socket("udp:1.2.3.4:5060")
        .to_cmd(Generation::V2)
        .unwrap();
    assert_eq!(
        legacy.params(),
        &Params::positional([
            "MESSAGE",
            "sip:a@b",
            ".",
            "udp:1.2.3.4:5060",
            "From: <sip:m@b>\r\nTo: <sip:a@b>\r\nContent-Type: text/plain\r\n",
            "hello",
        ])
    );
    // 4.x as 3.x, 1.x as 2.x
    assert_eq!(req.to_cmd(Generation::V4).unwrap(), json);
    assert_eq!(
        req.clone()
            .socket("udp:1.2.3.4:5060")
            .to_cmd(Generation::V1)
            .unwrap(),
        legacy
    );
}

#[test]
fn replies_of_every_generation() {
    let v3 = Value::from_json(br#"{"Status":"200 OK","Message":"Via: x\r\n\r\n"}"#).unwrap();
    let r = SipReply::from_value(&v3).unwrap();
    assert_eq!(
        (r.status, r.reason.as_str(), r.message.as_deref()),
        (200, "OK", Some("Via: x\r\n\r\n"))
    );
    let timeout =
        SipReply::from_value(&Value::from_json(br#"{"Status":"408 Request Timeout"}"#).unwrap())
            .unwrap();
    assert!(!timeout.is_success() && timeout.message.is_none());
    let v2 = Value::Object(
        vec![
            ("Status".into(), "404 Not here".into()),
            ("RURI".into(), ".".into()),
            ("Next-hop".into(), ".".into()),
            ("Routes".into(), ".".into()),
            ("Message".into(), "Via: y\r\n".into()),
        ]
        .into(),
    );
    let r = SipReply::from_value(&v2).unwrap();
    assert_eq!((r.status, r.ruri, r.routes), (404, None, None));
    let old = Value::from(vec!["486 Busy Here", ".", ".", ".", "Via: z\r\n"]);
    assert_eq!(SipReply::from_value(&old).unwrap().status, 486);
    assert!(SipReply::from_value(&Value::from("OK")).is_err());
}
