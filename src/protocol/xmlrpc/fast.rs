//! A hand-written reader for the XML that OpenSIPS (1.x `mi_xmlrpc`, 2.x/3.x
//! `mi_xmlrpc_ng`, 4.x `mi_xmlrpc`) and this crate's encoders write, giving exactly the
//! [`Node`] tree the `xml-rs` path of [`super::parse_tree`] gives, with a tenth of the
//! instructions or less (callgrind: a `version` reply 119 804 → 8 600, a 3.x `ul_dump` of
//! 8 kB 4.45 M → 0.37 M, with the `Value` built from the tree).
//!
//! It reads a subset and answers `None` for anything outside it, so that the `xml-rs` path
//! decides (and words the error) as before. The subset: a UTF-8 document, optionally behind a
//! UTF-8 byte order mark, optionally opening with `<?xml version="1.0" [encoding="UTF-8"]
//! [standalone="yes|no"]?>`; elements with ASCII names without a prefix, with or without
//! simple attributes (no `xmlns`, no references, no duplicates), self-closing or not; text
//! with the five predefined entities and decimal/hexadecimal character references to
//! characters XML 1.0 allows; whitespace around the root element. Refused (`None`): DOCTYPE,
//! CDATA sections, comments, processing instructions, `]]>` in text, any other encoding,
//! a raw CR inside markup, nesting deeper than [`MAX_DEPTH`], and anything malformed.
//!
//! Raw CRs in text are kept as `\r`, as [`super::protect_cr`] makes the `xml-rs` path keep
//! them (it turns them into `&#13;` before parsing, so no end-of-line normalisation applies).

use std::borrow::Cow;

use super::{MAX_DEPTH, Node};

/// Longer element or attribute names are left to `xml-rs` (its own limit is far higher).
const MAX_NAME: usize = 256;
/// Longer documents are left to `xml-rs` (its text limit is 1 GiB).
const MAX_LEN: usize = 1 << 29;
/// More attributes on one element are left to `xml-rs`.
const MAX_ATTRIBUTES: usize = 32;

/// Bytes that text can hold without a second look: everything but `<`, `&`, `]` (for
/// `]]>`), the control characters other than tab, LF and CR (kept as it is: `protect_cr`
/// makes `xml-rs` keep it too), and `0xEF` (the lead byte of U+FFFE and U+FFFF, which XML
/// does not allow).
const PLAIN_TEXT: [bool; 256] = {
    let mut t = [true; 256];
    let mut b = 0;
    while b < 0x20 {
        t[b] = b == b'\t' as usize || b == b'\n' as usize || b == b'\r' as usize;
        b += 1;
    }
    t[b'<' as usize] = false;
    t[b'&' as usize] = false;
    t[b']' as usize] = false;
    t[0xEF] = false;
    t
};

/// Reads `input` into its root [`Node`], or `None` when it is not in the subset this reader
/// knows to give the same tree as `xml-rs` (which then reads it).
pub(super) fn parse(input: &[u8]) -> Option<Node<'_>> {
    if input.len() > MAX_LEN {
        return None;
    }
    let s = std::str::from_utf8(input).ok()?;
    let b = s.as_bytes();
    let mut i = if b.starts_with(b"\xEF\xBB\xBF") { 3 } else { 0 };
    if b.get(i..)?.starts_with(b"<?") {
        i = declaration(b, i)?;
    }
    i = skip_any_whitespace(b, i);
    // The open elements, each with where its children start in `done`: the elements closed
    // and not yet given to their parent, in document order. A closing element takes its
    // children off the end of `done` in one exact allocation (none for a leaf).
    let mut open: Vec<(Node, usize)> = Vec::with_capacity(8);
    let mut done: Vec<Node> = Vec::with_capacity(8);
    let root = loop {
        if b.get(i) != Some(&b'<') {
            return None;
        }
        let closed = if b.get(i + 1) == Some(&b'/') {
            let (mut node, first_child) = open.pop()?;
            // the open element's name, and no more of a name
            let end = i + 2 + node.name.len();
            if !b.get(i + 2..)?.starts_with(node.name.as_bytes())
                || b.get(end).is_some_and(|&c| NAME[c as usize])
            {
                return None;
            }
            i = skip_whitespace(b, end).0;
            if b.get(i) != Some(&b'>') {
                return None;
            }
            i += 1;
            if first_child > done.len() {
                return None; // (cannot happen)
            }
            node.children = done.split_off(first_child);
            Some(node)
        } else {
            if open.len() >= MAX_DEPTH {
                return None;
            }
            let end = name(b, i + 1)?;
            let node = Node {
                name: Cow::Borrowed(s.get(i + 1..end)?),
                ..Node::default()
            };
            let (after, self_closing) = rest_of_tag(b, s, end)?;
            i = after;
            if self_closing {
                Some(node)
            } else {
                open.push((node, done.len()));
                None
            }
        };
        if let Some(node) = closed {
            if open.is_empty() {
                break node;
            }
            done.push(node);
        }
        let (top, _) = open.last_mut()?;
        i = text(b, s, i, &mut top.text)?;
    };
    // after the root: whitespace only (another root, a comment or a PI is left to xml-rs)
    b.get(i..)?
        .iter()
        .all(|&c| is_whitespace(c))
        .then_some(root)
}

/// `<?xml version="1.0" [encoding="UTF-8"] [standalone="yes|no"]?>` at `i`: where it ends.
fn declaration(b: &[u8], i: usize) -> Option<usize> {
    let mut j = expect(b, i, b"<?xml")?;
    let after_name = j;
    j = skip_any_whitespace(b, j);
    if j == after_name {
        return None;
    }
    j = expect(b, j, b"version")?;
    j = pseudo_attribute(b, j, |v| v == b"1.0")?;
    let mut seen = 0; // 1: encoding, 2: standalone
    loop {
        let before = j;
        j = skip_any_whitespace(b, j);
        if b.get(j..)?.starts_with(b"?>") {
            return Some(j + 2);
        }
        if j == before {
            return None;
        }
        if seen < 1 && b.get(j..)?.starts_with(b"encoding") {
            j = pseudo_attribute(b, j + 8, |v| {
                v.eq_ignore_ascii_case(b"utf-8") || v.eq_ignore_ascii_case(b"utf8")
            })?;
            seen = 1;
        } else if seen < 2 && b.get(j..)?.starts_with(b"standalone") {
            j = pseudo_attribute(b, j + 10, |v| v == b"yes" || v == b"no")?;
            seen = 2;
        } else {
            return None;
        }
    }
}

/// `= "value"` of a declaration's pseudo-attribute (whitespace allowed around `=`), with a
/// value `ok` accepts: where it ends.
fn pseudo_attribute(b: &[u8], i: usize, ok: impl Fn(&[u8]) -> bool) -> Option<usize> {
    let j = skip_any_whitespace(b, i);
    if b.get(j) != Some(&b'=') {
        return None;
    }
    let j = skip_any_whitespace(b, j + 1);
    let quote = *b.get(j).filter(|q| matches!(q, b'"' | b'\''))?;
    let start = j + 1;
    let len = b.get(start..)?.iter().take(8).position(|&c| c == quote)?;
    ok(b.get(start..start + len)?).then_some(start + len + 1)
}

fn expect(b: &[u8], i: usize, what: &[u8]) -> Option<usize> {
    b.get(i..)?.starts_with(what).then_some(i + what.len())
}

/// The end of an ASCII name without a prefix starting at `i` (`None` if there is none, or it
/// is too long). What follows it is for the caller to check.
fn name(b: &[u8], i: usize) -> Option<usize> {
    if !matches!(b.get(i)?, b'A'..=b'Z' | b'a'..=b'z' | b'_') {
        return None;
    }
    let mut j = i + 1;
    while let Some(&c) = b.get(j) {
        if !NAME[c as usize] {
            break;
        }
        j += 1;
    }
    (j - i < MAX_NAME).then_some(j)
}

/// The bytes of an ASCII name after its first.
const NAME: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        t[c] = matches!(c as u8, b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-');
        c += 1;
    }
    t
};

/// After an element's name at `i`: its attributes (checked as `xml-rs` checks them, then
/// dropped) up to `>` or `/>`. Returns where the tag ends and whether it was `/>`.
fn rest_of_tag<'a>(b: &'a [u8], s: &'a str, mut i: usize) -> Option<(usize, bool)> {
    let mut seen: Vec<&[u8]> = Vec::new();
    loop {
        let (j, spaced) = skip_whitespace(b, i);
        i = j;
        match *b.get(i)? {
            b'>' => return Some((i + 1, false)),
            b'/' if b.get(i + 1) == Some(&b'>') => return Some((i + 2, true)),
            _ if spaced && seen.len() < MAX_ATTRIBUTES => {
                let end = name(b, i)?;
                let attribute = b.get(i..end)?;
                // `xmlns` declares a namespace; other `xml…` names are reserved
                if (attribute.len() >= 3 && attribute[..3].eq_ignore_ascii_case(b"xml"))
                    || seen.contains(&attribute)
                {
                    return None;
                }
                seen.push(attribute);
                i = skip_whitespace(b, end).0;
                if b.get(i) != Some(&b'=') {
                    return None;
                }
                i = skip_whitespace(b, i + 1).0;
                let quote = *b.get(i).filter(|q| matches!(q, b'"' | b'\''))?;
                let start = i + 1;
                let len = b.get(start..)?.iter().position(|&c| c == quote)?;
                let value = s.get(start..start + len)?;
                if value
                    .bytes()
                    .any(|c| c == b'<' || c == b'&' || (c < 0x20 && c != b'\t' && c != b'\n'))
                    || value.contains(['\u{fffe}', '\u{ffff}'])
                {
                    return None;
                }
                i = start + len + 1;
            }
            _ => return None,
        }
    }
}

/// Text from `i` up to the next `<` (where it returns), appended to `out`: borrowed from the
/// document when it is the element's first text and holds no reference.
fn text<'a>(b: &[u8], s: &'a str, mut i: usize, out: &mut Cow<'a, str>) -> Option<usize> {
    let mut start = i;
    loop {
        while let Some(&c) = b.get(i) {
            if !PLAIN_TEXT[c as usize] {
                break;
            }
            i += 1;
        }
        match *b.get(i)? {
            b'<' => {
                if i > start {
                    append(out, s.get(start..i)?);
                }
                return Some(i);
            }
            b'&' => {
                if i > start {
                    append(out, s.get(start..i)?);
                }
                let (c, after) = reference(b, i + 1)?;
                out.to_mut().push(c);
                i = after;
                start = i;
            }
            b']' => {
                if b.get(i..)?.starts_with(b"]]>") {
                    return None;
                }
                i += 1;
            }
            0xEF => {
                if matches!(b.get(i + 1..i + 3)?, [0xBF, 0xBE | 0xBF]) {
                    return None; // U+FFFE, U+FFFF
                }
                i += 3;
            }
            _ => return None, // a control character
        }
    }
}

#[inline]
fn append<'a>(out: &mut Cow<'a, str>, more: &'a str) {
    if out.is_empty() {
        *out = Cow::Borrowed(more);
    } else {
        out.to_mut().push_str(more);
    }
}

/// The reference after the `&` at `i`: its character and where it ends.
fn reference(b: &[u8], i: usize) -> Option<(char, usize)> {
    let len = b.get(i..)?.iter().take(16).position(|&c| c == b';')?;
    let body = b.get(i..i + len)?;
    let c = match body {
        b"lt" => '<',
        b"gt" => '>',
        b"amp" => '&',
        b"apos" => '\'',
        b"quot" => '"',
        [b'#', b'x', hex @ ..] => char_ref(hex, 16)?,
        [b'#', dec @ ..] => char_ref(dec, 10)?,
        _ => return None,
    };
    Some((c, i + len + 1))
}

/// A character reference's digits: the character, if XML 1.0 allows it.
fn char_ref(digits: &[u8], radix: u32) -> Option<char> {
    if digits.is_empty() {
        return None;
    }
    let mut v: u32 = 0;
    for &d in digits {
        let d = char::from(d).to_digit(radix)?;
        v = v.checked_mul(radix)?.checked_add(d)?;
    }
    char::from_u32(v).filter(|&c| {
        matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
    })
}

/// XML whitespace inside markup, CR excepted (`protect_cr` turned it into `&#13;` there,
/// which `xml-rs` refuses). Returns where it ends and whether there was any.
fn skip_whitespace(b: &[u8], i: usize) -> (usize, bool) {
    let n = b.get(i..).map_or(0, |r| {
        r.iter()
            .take_while(|c| matches!(c, b' ' | b'\t' | b'\n'))
            .count()
    });
    (i + n, n > 0)
}

/// XML whitespace outside the root element (CR included).
fn skip_any_whitespace(b: &[u8], i: usize) -> usize {
    i + b
        .get(i..)
        .map_or(0, |r| r.iter().take_while(|&&c| is_whitespace(c)).count())
}

fn is_whitespace(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r')
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use proptest::prelude::*;

    use super::super::parse_tree_general;
    use super::parse;

    /// Where the fast reader answers, `xml-rs` gives the same tree. Returns whether it answered.
    fn agree(doc: &[u8]) -> bool {
        match parse(doc) {
            Some(fast) => {
                let general = parse_tree_general(doc);
                assert_eq!(
                    general.as_ref(),
                    Ok(&fast),
                    "{:?}",
                    String::from_utf8_lossy(doc)
                );
                true
            }
            None => false,
        }
    }

    #[test]
    fn ordinary_documents_are_read_here() {
        for doc in [
            &b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<methodResponse>\r\n<params><param>\r\n\
               <value><struct><member><name>Server</name><value><string>OpenSIPS (3.5.9 (x86_64/linux))\
               </string></value></member></struct></value></param></params>\r\n</methodResponse>\r\n"[..],
            b"<?xml version=\"1.0\"?>\n<methodCall><methodName>version</methodName><params></params></methodCall>",
            b"<methodResponse><params><param><value><nil/></value></param></params></methodResponse>",
            b"\xEF\xBB\xBF<?xml version='1.0' encoding='utf-8' standalone='yes' ?>\n<a/>",
            b"<?xml version=\"1.0\"?><a b=\"1\" c='x\"y' d = \">\" >t</a >",
            b"<a><b/>x&amp;y&lt;&gt;&quot;&apos;&#13;&#x0D;&#xd;&#65;&#x1F600;\r\n\r]] ]>\t\xC2\x85\xEF\xBF\xBD</a>",
            b"\r\n <a>\r\n</a>\r\n ",
            b"<a>\xF0\x9F\x98\x80 &#x10FFFF; ?> /> -- = ' \"</a>",
        ] {
            assert!(agree(doc), "{:?}", String::from_utf8_lossy(doc));
        }
        let deepest = format!("{}{}", "<a>".repeat(128), "</a>".repeat(128));
        assert!(agree(deepest.as_bytes()));
        assert_eq!(parse(b"<a>x\r\ny\rz</a>").unwrap().text, "x\r\ny\rz");
        assert!(matches!(
            parse(b"<a>x\r\ny</a>").unwrap().text,
            Cow::Borrowed(_)
        ));
        assert_eq!(parse(b"<a>x&amp;y<b/>z&#65;</a>").unwrap().text, "x&yzA");
    }

    #[test]
    fn the_rest_is_left_to_xml_rs() {
        let too_deep = format!("{}{}", "<a>".repeat(129), "</a>".repeat(129));
        for doc in [
            &b""[..],
            b"   ",
            b"<a>",
            b"<a></b>",
            b"</a>",
            b"<a/><b/>",
            b"<a/>x",
            b"<a/><!-- c -->",
            b"<!-- c --><a/>",
            b"<!DOCTYPE a><a/>",
            b"<?pi?><a/>",
            b"<a><?pi?></a>",
            b"<a><![CDATA[x]]></a>",
            b"<a>]]></a>",
            b"<a>]]]></a>",
            b"<a>&nbsp;</a>",
            b"<a>&#0;</a>",
            b"<a>&#xD800;</a>",
            b"<a>&#xFFFE;</a>",
            b"<a>&#X41;</a>",
            b"<a>&#1114112;</a>",
            b"<a>&#;</a>",
            b"<a>&amp</a>",
            b"<a>\x01</a>",
            b"<a>\xEF\xBF\xBE</a>",
            b"<a>\xFF</a>",
            b"<ns:a/>",
            b"<a xmlns=\"urn:x\"/>",
            b"<a b=\"1\" b=\"2\"/>",
            b"<a b=\"1\"c=\"2\"/>",
            b"<a b=\"&amp;\"/>",
            b"<a b=\"<\"/>",
            b"<a\r\n/>",
            b"<a b=\"\r\"/>",
            b"<a/ >",
            b"<1/>",
            b"< a/>",
            b"<\xC3\xA9/>",
            b" <?xml version=\"1.0\"?><a/>",
            b"<?xml version=\"1.1\"?><a/>",
            b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a/>",
            b"<?xml version=\"1.0\"encoding=\"UTF-8\"?><a/>",
            b"<?xml?><a/>",
            b"\xFE\xFF\x00<\x00a\x00/\x00>",
            too_deep.as_bytes(),
        ] {
            assert!(!agree(doc), "read here: {:?}", String::from_utf8_lossy(doc));
        }
    }

    /// Every XML-RPC document among the captures (1.x-4.x requests and replies): read the
    /// same by both readers; every reply and every well-formed request is read here.
    #[test]
    fn every_captured_document() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let mut dirs = vec![root];
        let (mut fast, mut all) = (0, 0);
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                    continue;
                }
                let raw = std::fs::read(&path).unwrap();
                let body = match raw.windows(4).position(|w| w == b"\r\n\r\n") {
                    Some(i) if raw.starts_with(b"HTTP/") || raw.starts_with(b"POST ") => {
                        &raw[i + 4..]
                    }
                    _ => &raw[..],
                };
                let text = String::from_utf8_lossy(body);
                if !text.contains("<methodResponse") && !text.contains("<methodCall") {
                    continue;
                }
                all += 1;
                let read_here = agree(body);
                fast += usize::from(read_here);
                let name = path.display().to_string();
                let well_formed = parse_tree_general(body).is_ok();
                assert_eq!(read_here, well_formed, "{name}");
            }
        }
        eprintln!("{fast} of {all} captured XML-RPC documents read here");
        assert!(all >= 150 && fast >= all - 10, "{fast} of {all}");
    }

    fn fragment() -> impl Strategy<Value = String> {
        prop_oneof![
            120 => proptest::sample::select(vec![
                "", "", "", "abc", " ", "\t", "\r\n", "\r", "\n", "\r\r\n", "&amp;", "&lt;",
                "&gt;", "&quot;", "&apos;", "&#13;", "&#x0D;", "&#xd;", "&#10;", "&#9;",
                "&#x1F600;", "&#xFFFD;", "&#1114111;", "&#00000065;", ";", "]]", "]", ">",
                "/>", "?>", "-->", "=", "é", "😀", "\u{7f}", "\u{85}", "\u{2028}", "'\"",
                "4294967295.000000", "Via: x\r\nTo: &lt;a&gt;",
            ]).prop_map(str::to_owned),
            3 => proptest::sample::select(vec![
                "&#0;", "&#xFFFE;", "&#55296;", "&#1114112;", "&#99999999999;",
                "&#x0000000041;", "&unknown;", "&#;", "&#x;", "&#X41;", "&#-1;", "&#x-1;",
                "&lt", "&", "]]>", "]]]>", "\u{FFFE}", "\u{FFFF}", "\u{1}", "<![CDATA[x]]>",
                "<![CDATA[]]>", "<!-- c -->", "<?pi x?>", "<", "&#", "\u{0}",
            ]).prop_map(str::to_owned),
            4 => "[ -~\r\n\té😀]{0,6}",
        ]
    }

    fn attributes() -> impl Strategy<Value = String> {
        prop_oneof![
            40 => Just(String::new()),
            2 => proptest::sample::select(vec![
                " a=\"1\"", " b='x y'", " e = \"v\" ", " g=\"]]>/>'\"", "\n\tm=\"\n\"",
                " n=\"é\"", " a=\"1\" b=\"\"", " ",
            ]).prop_map(str::to_owned),
            1 => proptest::sample::select(vec![
                " a=\"1\" a=\"2\"", " xmlns=\"urn:x\"", " x:a=\"1\"", " c=\"&amp;\"",
                " d=\"<\"", " f=\"\r\"", " h=\"\u{1}\"", " i=\"\u{FFFE}\"", " j",
                " k=\"1\"l=\"2\"", " XMLo=\"1\"", "\r",
            ]).prop_map(str::to_owned),
        ]
    }

    fn element_name() -> impl Strategy<Value = &'static str> {
        prop_oneof![
            100 => proptest::sample::select(vec![
                "methodResponse", "methodCall", "methodName", "params", "param", "value",
                "string", "int", "i4", "double", "boolean", "nil", "struct", "member", "name",
                "array", "data", "fault", "base64", "a", "_u", "x.y", "A-1", "xmlns", "xml", "a1",
            ]),
            1 => proptest::sample::select(vec!["ns:a", "é", "1a", "", "xml:a", "xmlns:a"]),
        ]
    }

    /// An element, as text: `(name, attributes, self-closing, content)`.
    fn element() -> impl Strategy<Value = String> {
        let leaf = (element_name(), attributes(), fragment(), any::<bool>()).prop_map(
            |(name, attrs, text, close)| {
                if close && text.is_empty() {
                    format!("<{name}{attrs}/>")
                } else {
                    format!("<{name}{attrs}>{text}</{name}>")
                }
            },
        );
        leaf.prop_recursive(6, 48, 4, |inner| {
            (
                element_name(),
                attributes(),
                proptest::collection::vec((fragment(), inner), 0..4),
                fragment(),
                proptest::sample::select(vec!["", "", "", " ", "\n", "\r"]),
            )
                .prop_map(|(name, attrs, kids, tail, space)| {
                    let mut out = format!("<{name}{attrs}>");
                    for (text, kid) in kids {
                        out.push_str(&text);
                        out.push_str(&kid);
                    }
                    out.push_str(&tail);
                    out.push_str(&format!("</{name}{space}>"));
                    out
                })
        })
    }

    fn document() -> impl Strategy<Value = Vec<u8>> {
        let prolog = prop_oneof![
            6 => proptest::sample::select(vec![
                "",
                "<?xml version=\"1.0\"?>\n",
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n",
                "\u{feff}<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
                "\u{feff}",
                "<?xml version='1.0' encoding='utf8' standalone='no' ?>",
                "<?xml  version = \"1.0\"\r\n?>",
                "\r\n \t",
            ]),
            1 => proptest::sample::select(vec![
                "<?xml version=\"1.1\"?>",
                "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>",
                "<?xml version=\"1.0\" encoding=\"\"?>",
                "<?xml version=\"1.0\" standalone=\"maybe\"?>",
                " <?xml version=\"1.0\"?>",
                "<!DOCTYPE x>",
                "<!-- c -->",
                "<?xml version=\"1.0\"encoding=\"UTF-8\"?>",
            ]),
        ];
        let trailer = prop_oneof![
            6 => proptest::sample::select(vec!["", "\r\n", " \n", "\r"]),
            1 => proptest::sample::select(vec!["x", "<!-- c -->", "<a/>", "<?pi?>", "]]>"]),
        ];
        (
            prolog,
            element(),
            trailer,
            0usize..12,
            any::<proptest::sample::Index>(),
            proptest::sample::select(vec![
                "<", ">", "/", "&", ";", "\"", "'", "=", " ", "\r", ":", "!", "?", "]", "x",
            ]),
        )
            .prop_map(|(prolog, root, trailer, mutation, at, with)| {
                let mut doc = format!("{prolog}{root}{trailer}").into_bytes();
                let at = at.index(doc.len() + 1);
                match mutation {
                    0 => doc.truncate(at),
                    1 if at < doc.len() => {
                        doc.remove(at);
                    }
                    2 => doc.splice(at..at, with.bytes()).for_each(drop),
                    _ => {}
                }
                doc
            })
    }

    /// Ordinary XML-RPC documents: always read here.
    fn ordinary() -> impl Strategy<Value = Vec<u8>> {
        let text = proptest::sample::select(vec![
            "",
            "x",
            "OpenSIPS (3.5.9)",
            "\r\n",
            "&lt;sip:a@b&gt;;tag=1",
            "a&amp;b",
            "&#39;",
            "é 😀",
            "Via: x\r\nTo: <a>\r\n\r\n",
        ])
        .prop_map(|t| t.replace("<a>", "&lt;a&gt;"));
        let leaf = (
            element_name().prop_filter("plain", |n| {
                n.bytes().next().is_some_and(|c| c.is_ascii_alphabetic()) && !n.contains(':')
            }),
            text.clone(),
        )
            .prop_map(|(name, text)| format!("<{name}>{text}</{name}>"));
        let tree = leaf.prop_recursive(5, 32, 4, move |inner| {
            (proptest::collection::vec(inner, 0..4), text.clone())
                .prop_map(|(kids, text)| format!("<value>{}{text}</value>", kids.concat()))
        });
        (
            proptest::sample::select(vec![
                "",
                "<?xml version=\"1.0\"?>\n",
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n",
            ]),
            tree,
            proptest::sample::select(vec!["", "\r\n", "\n"]),
        )
            .prop_map(|(p, t, e)| {
                format!("{p}<methodResponse>\r\n<params><param>\r\n{t}</param></params>\r\n</methodResponse>{e}")
                    .into_bytes()
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]

        #[test]
        fn fast_reader_agrees_with_xml_rs(doc in document()) {
            agree(&doc);
        }

        #[test]
        fn ordinary_documents_are_read_here_and_agree(doc in ordinary()) {
            prop_assert!(agree(&doc), "{:?}", String::from_utf8_lossy(&doc));
        }
    }

    /// A good share of the generated documents is read here (else the property above
    /// would test little), and a good share is not (the refusals are exercised too).
    #[test]
    fn the_generator_reaches_both_paths() {
        use proptest::strategy::ValueTree;
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let strategy = document();
        let fast = (0..2000)
            .filter(|_| parse(&strategy.new_tree(&mut runner).unwrap().current()).is_some())
            .count();
        eprintln!("{fast} of 2000 generated documents read here");
        assert!((500..1500).contains(&fast), "{fast}");
    }
}
