//! Property: random element trees, with random text and attribute values
//! (the five specials, line ends, tabs, non-ASCII, astral characters), are
//! written with the writer and parsed back, through random chunk splits, to
//! the same tree.

mod common;

use common::{run_chunked, Ev, Tree};
use picoxmpp::xml::{chars::is_xml_char, StreamHeaderBuilder, Writer};
use proptest::prelude::*;

/// A node to write: the parsed side only sees direct text concatenated and
/// the child elements, so the expectation is derived that way.
#[derive(Debug, Clone)]
enum N {
    El {
        name: String,
        ns: Option<String>,
        attrs: Vec<(String, String)>,
        kids: Vec<N>,
    },
    Text(String),
}

fn xml_string() -> impl Strategy<Value = String> {
    let special = prop_oneof![
        Just('<'),
        Just('>'),
        Just('&'),
        Just('\''),
        Just('"'),
        Just('\r'),
        Just('\n'),
        Just('\t'),
        Just(']'),
        Just('é'),
        Just('ж'),
        Just('漢'),
        Just('😀'),
        Just('\u{10FFFD}'),
        Just(' ')
    ];
    let any = any::<char>().prop_filter("XML Char", |c| is_xml_char(*c));
    prop::collection::vec(
        prop_oneof![3 => special, 2 => any, 5 => prop::char::range('a', 'z')],
        0..24,
    )
    .prop_map(|v| v.into_iter().collect())
}

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("message".to_string()),
        Just("body".to_string()),
        Just("x".to_string()),
        Just("é-ü.名".to_string()),
        "[a-z_][a-z0-9._-]{0,8}",
    ]
}

fn tree() -> impl Strategy<Value = N> {
    let leaf =
        (name(), prop::option::of("urn:[a-z]{1,6}"), attrs()).prop_map(|(name, ns, attrs)| N::El {
            name,
            ns,
            attrs,
            kids: vec![],
        });
    leaf.prop_recursive(4, 40, 5, |inner| {
        (
            name(),
            prop::option::of("urn:[a-z]{1,6}"),
            attrs(),
            prop::collection::vec(
                prop_oneof![2 => inner, 1 => xml_string().prop_map(N::Text)],
                0..5,
            ),
        )
            .prop_map(|(name, ns, attrs, kids)| N::El {
                name,
                ns,
                attrs,
                kids,
            })
    })
}

fn attrs() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::btree_map("[a-z][a-z0-9]{0,5}", xml_string(), 0..4).prop_map(|m| {
        m.into_iter()
            .filter(|(k, _)| !k.starts_with("xml"))
            .collect()
    })
}

fn write<'b>(w: &mut Writer<'b>, n: &'b N) {
    match n {
        N::Text(t) => w.text(t).unwrap(),
        N::El {
            name,
            ns,
            attrs,
            kids,
        } => {
            w.start_element(name).unwrap();
            if let Some(ns) = ns {
                w.ns(ns).unwrap();
            }
            for (k, v) in attrs {
                w.attr(k, v).unwrap();
            }
            for k in kids {
                write(w, k);
            }
            w.end_element(name).unwrap();
        }
    }
}

fn expect(n: &N, inherited: &str) -> Tree {
    let N::El {
        name,
        ns,
        attrs,
        kids,
    } = n
    else {
        unreachable!()
    };
    let ns = ns.clone().unwrap_or_else(|| inherited.to_string());
    Tree {
        name: name.clone(),
        attrs: attrs.clone(),
        text: kids
            .iter()
            .filter_map(|k| {
                if let N::Text(t) = k {
                    Some(t.as_str())
                } else {
                    None
                }
            })
            .collect(),
        children: kids
            .iter()
            .filter(|k| matches!(k, N::El { .. }))
            .map(|k| expect(k, &ns))
            .collect(),
        ns,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn written_then_parsed_is_the_same_tree(
        trees in prop::collection::vec(tree(), 1..4),
        chunks in prop::collection::vec(1usize..64, 1..8),
    ) {
        let mut out = vec![0u8; 1 << 16];
        let mut n = StreamHeaderBuilder::new("jabber:client").to("example.com").write_to(&mut out).unwrap();
        for t in &trees {
            let mut w = Writer::new(&mut out[n..]);
            write(&mut w, t);
            n += w.finish().unwrap();
        }
        n += StreamHeaderBuilder::write_close(&mut out[n..]).unwrap();
        let bytes = &out[..n];

        let (events, err) = run_chunked(bytes, 1 << 16, None, &chunks);
        prop_assert_eq!(err, None, "{}", String::from_utf8_lossy(bytes));
        let mut want = vec![Ev::Open { to: Some("example.com".into()), from: None, id: None, version: Some("1.0".into()) }];
        want.extend(trees.iter().map(|t| Ev::El(expect(t, "jabber:client"))));
        want.push(Ev::Close);
        prop_assert_eq!(&events, &want);
        // And whole, in one piece.
        let (whole, _) = run_chunked(bytes, 1 << 16, None, &[usize::MAX]);
        prop_assert_eq!(whole, want);
    }
}
