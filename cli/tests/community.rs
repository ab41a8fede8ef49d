//! Community mode, as the county seat's office and its building and unit
//! heads live it: the office names a community's levels (community,
//! building, unit), registers cells by unit, rolls the day up by building,
//! and enrols a building head and a unit head whose phones, synced with a
//! real `silin hub serve`, hold only their building's or unit's cells.

mod support;

use serde_json::Value;
use support::{Hub, Office, DAY};

const COMMUNITY: &str = "两当县/城关镇/城南社区";
const BUILDING_1: &str = "两当县/城关镇/城南社区/锦苑小区1号楼";
const BUILDING_2: &str = "两当县/城关镇/城南社区/锦苑小区2号楼";

fn cell(o: &Office, name: &str, path: &str) -> String {
    o.id(
        &["cell", "create", "--name", name, "--path", path],
        "cell_id",
    )
}

fn cell_ids(v: &Value) -> Vec<String> {
    let mut ids: Vec<String> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["cell_id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

#[test]
fn a_building_head_sees_only_the_building_and_a_unit_head_only_the_unit() {
    let o = Office::new();
    o.json("hub.db", &["init", "--name", "城关镇网格中心"]);
    // Until the office names the community's levels, its branch has the
    // countryside's four: a cell at a unit is one part too deep.
    let unit_1 = format!("{BUILDING_1}/1单元");
    let (_, err) = o.fails(
        "hub.db",
        2,
        &[
            "cell",
            "create",
            "--name",
            "1单元第1联户",
            "--path",
            &unit_1,
        ],
    );
    assert!(err.contains("county/township/village/group"), "{err}");
    let named = o.json(
        "hub.db",
        &[
            "region",
            "levels",
            "--prefix",
            COMMUNITY,
            "--levels",
            "community,building,unit",
        ],
    );
    assert_eq!(
        named["branches"],
        serde_json::json!([{"prefix": COMMUNITY, "levels": ["community", "building", "unit"]}])
    );
    // A name that would mean two depths is refused, and nothing changes.
    o.fails(
        "hub.db",
        2,
        &[
            "region",
            "levels",
            "--prefix",
            "两当县/城关镇/城北社区",
            "--levels",
            "community,compound,building,unit",
        ],
    );
    assert_eq!(o.json("hub.db", &["region", "levels"]), named);

    let b1u1 = [
        cell(&o, "1号楼1单元第1联户", &unit_1),
        cell(&o, "1号楼1单元第2联户", &unit_1),
    ];
    let b1u2 = cell(&o, "1号楼2单元第1联户", &format!("{BUILDING_1}/2单元"));
    let b2u1 = cell(&o, "2号楼1单元第1联户", &format!("{BUILDING_2}/1单元"));
    let village = cell(&o, "一组第1联户", "两当县/城关镇/东关村/一组");
    // A cell placed at its building, not a unit, is refused.
    let (_, err) = o.fails(
        "hub.db",
        2,
        &["cell", "create", "--name", "x", "--path", BUILDING_1],
    );
    assert!(err.contains("community/building/unit"), "{err}");

    // The office's rollup by building names each row's level.
    o.json(
        "hub.db",
        &["report", "submit", "--cell", &b1u2, "--date", DAY],
    );
    let rows = o.json("hub.db", &["rollup", "--date", DAY, "--level", "building"]);
    let rows: Vec<(String, String, i64, i64)> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["path"].as_str().unwrap().to_string(),
                r["level"].as_str().unwrap().to_string(),
                r["cells"].as_i64().unwrap(),
                r["reported"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("两当县/城关镇/东关村/一组".into(), "group".into(), 1, 0),
            (BUILDING_1.into(), "building".into(), 3, 1),
            (BUILDING_2.into(), "building".into(), 1, 0),
        ]
    );
    let units = o.json("hub.db", &["rollup", "--date", DAY, "--level", "unit"]);
    assert_eq!(units.as_array().unwrap().len(), 4, "{units}");
    let (_, err) = o.fails("hub.db", 2, &["rollup", "--date", DAY, "--level", "floor"]);
    assert!(err.contains("unit") && err.contains("building"), "{err}");

    // The building head's and the unit head's phones, enrolled and synced.
    let token = |role: &str, scope: &str| {
        o.id(&["hub", "token", "--role", role, "--scope", scope], "token")
    };
    let building_head = token("building_head", BUILDING_1);
    let unit_head = token("unit_head", &format!("{BUILDING_1}/2单元"));
    let hub = Hub::start(&o, "hub.db");
    let url = format!("http://{}", hub.addr);
    for (phone, token, role) in [
        ("building.db", &building_head, "building_head"),
        ("unit.db", &unit_head, "unit_head"),
    ] {
        o.json(phone, &["init"]);
        let enrolled = o.json(phone, &["enroll", "--hub", &url, "--token", token]);
        assert_eq!(enrolled["role"], role);
        o.json(phone, &["sync", "--hub", &url]);
    }
    let mut building_cells = vec![b1u1[0].clone(), b1u1[1].clone(), b1u2.clone()];
    building_cells.sort();
    assert_eq!(cell_ids(&o.json("building.db", &["cells"])), building_cells);
    assert_eq!(cell_ids(&o.json("unit.db", &["cells"])), vec![b1u2.clone()]);
    // Nothing of the next building or of the village is on either phone.
    for phone in ["building.db", "unit.db"] {
        for other in [&b2u1, &village] {
            o.fails(phone, 2, &["cell", "show", "--cell", other]);
        }
    }

    // The building head's door knock reaches the office on the next sync.
    o.json(
        "building.db",
        &[
            "visit",
            "record",
            "--cell",
            &b1u1[0],
            "--kind",
            "door_knock",
        ],
    );
    o.json("building.db", &["sync", "--hub", &url]);
    drop(hub);
    let shown = o.json("hub.db", &["cell", "show", "--cell", &b1u1[0]]);
    let visits = shown["visits"].as_array().unwrap();
    assert!(visits.iter().any(|v| v["kind"] == "door_knock"), "{shown}");
}
