//! Pure: which GETs a sweep makes. Without `$expand` each resource the items live in is one
//! GET (as before issue 34). A service whose root says it expands with `.` and levels
//! (`ProtocolFeaturesSupported.ExpandQuery`: `NoLinks` and `Levels`) is asked for a collection
//! holding two or more of them once, expanded one level (`?$expand=.($levels=1)`, DSP0266's
//! "subordinate hyperlinks, not `Links`"); a resource that is itself read and lies above a
//! collection holding any of them takes it in, expanded as deep as needed within the
//! service's `MaxLevels` (the `PowerSubsystem`, read for its redundancy groups, holds its
//! `PowerSupplies`: one GET, two levels).
//!
//! Only the collections of [`COLLECTIONS`] are expanded, and none the reader found the
//! service does not expand (`not`). A plan assumes a resource's path names its place (a
//! member of `…/Sensors` is one level under it), as Redfish's URIs do; the reader checks
//! every answer for the resources it was to hold ([`Whole`]) and reads those it lacks one
//! by one.

use serde_json::Value;
use std::collections::BTreeMap;

/// The collections read expanded, by the last segment of their path: the schemas' URI
/// patterns (`Redfish.Uris`, mandatory since Redfish 2019.1) put a chassis' sensors at
/// `…/Chassis/{id}/Sensors/{id}`, its fans at `…/ThermalSubsystem/Fans/{id}` and its supplies
/// at `…/PowerSubsystem/PowerSupplies/{id}`. Other parents are not expanded: a chassis
/// holding the deprecated `Thermal` and `Power` would bring every resource under it.
pub const COLLECTIONS: &[&str] = &["Sensors", "Fans", "PowerSupplies"];

/// The deepest expansion asked for, whatever a service advertises.
pub const MAX_LEVELS: u8 = 3;

/// What a service's root says it can do for a sweep
/// (`ProtocolFeaturesSupported`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Features {
    /// How deep it expands with `.` (0: it does not say it does), at most [`MAX_LEVELS`].
    pub expand: u8,
    /// It says it serves one request at a time (`MultipleHTTPRequests: false`).
    pub one_at_a_time: bool,
}

/// What the service at `root` (its service root) says it can do: `$expand=.` with levels
/// when `ExpandQuery` says `NoLinks` (`.`) and `Levels`, as deep as its `MaxLevels` (1 when
/// not said), at most [`MAX_LEVELS`]; one request at a time when `MultipleHTTPRequests` is
/// `false`.
pub fn features(root: &Value) -> Features {
    let p = root.get("ProtocolFeaturesSupported");
    let one_at_a_time = p
        .and_then(|p| p.get("MultipleHTTPRequests"))
        .and_then(Value::as_bool)
        == Some(false);
    let Some(q) = p.and_then(|p| p.get("ExpandQuery")) else {
        return Features {
            expand: 0,
            one_at_a_time,
        };
    };
    let yes = |k: &str| q.get(k).and_then(Value::as_bool) == Some(true);
    let expand = if yes("Levels") && yes("NoLinks") {
        let max = q.get("MaxLevels").and_then(Value::as_u64).unwrap_or(1);
        u8::try_from(max.min(u64::from(MAX_LEVELS))).unwrap_or(MAX_LEVELS)
    } else {
        0
    };
    Features {
        expand,
        one_at_a_time,
    }
}

/// One GET of a sweep: the path asked, and the resources its answer holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Get {
    /// The path and query asked (`/redfish/v1/Chassis/1/Sensors?$expand=.($levels=1)`).
    pub path: String,
    /// The resources the answer holds (the path's own first when it is one of them).
    pub docs: Vec<String>,
    /// Whether the answer is an expansion (its resources are to be found in it).
    pub expanded: bool,
}

impl Get {
    /// One GET of the resource `doc` alone.
    pub fn plain(doc: &str) -> Get {
        Get {
            path: doc.to_string(),
            docs: vec![doc.to_string()],
            expanded: false,
        }
    }
}

/// The parent of a resource's path (`/a/b/c` → `/a/b`).
fn parent(doc: &str) -> &str {
    doc.rsplit_once('/').map_or(doc, |(p, _)| p)
}

/// Levels from `top` down to `doc` (`doc` under `top`), by their paths.
fn depth_below(top: &str, doc: &str) -> Option<usize> {
    let rest = doc.strip_prefix(top)?.strip_prefix('/')?;
    Some(rest.split('/').count())
}

/// The GETs that read `docs` (resource paths, each once, most urgent first), with a service
/// expanding `levels` deep (0: one GET each), none of `not` (paths the service does not
/// expand) expanded. The GETs keep the order of their first resource.
pub fn plan(docs: &[String], levels: u8, not: &[String]) -> Vec<Get> {
    if levels == 0 {
        return docs.iter().map(|d| Get::plain(d)).collect();
    }
    let expandable = |p: &str| !not.iter().any(|n| n == p);
    // The collections of COLLECTIONS holding any of the resources.
    let mut members: BTreeMap<&str, usize> = BTreeMap::new();
    for d in docs {
        let coll = parent(d);
        if COLLECTIONS
            .iter()
            .any(|c| coll.rsplit('/').next() == Some(c))
        {
            *members.entry(coll).or_default() += 1;
        }
    }
    // A read resource above a collection takes it in, within the levels; each top is
    // expanded as deep as its deepest collection needs. A collection no read resource
    // takes in is its own top when it holds two or more.
    let mut top: BTreeMap<&str, &str> = BTreeMap::new();
    let mut deep: BTreeMap<&str, usize> = BTreeMap::new();
    for (coll, n) in &members {
        let above = docs
            .iter()
            .filter(|d| expandable(d))
            .filter_map(|d| Some((d.as_str(), depth_below(d, coll)? + 1)))
            .filter(|(_, k)| *k <= usize::from(levels))
            .min_by_key(|(d, _)| d.len());
        let Some((t, k)) = above.or_else(|| (*n >= 2 && expandable(coll)).then_some((*coll, 1)))
        else {
            continue;
        };
        top.insert(coll, t);
        let e = deep.entry(t).or_insert(k);
        *e = (*e).max(k);
    }
    let mut gets: Vec<Get> = Vec::new();
    let mut at: BTreeMap<&str, usize> = BTreeMap::new();
    for d in docs {
        let holder = top
            .get(parent(d))
            .copied()
            .or_else(|| deep.contains_key(d.as_str()).then_some(d.as_str()));
        let Some(t) = holder else {
            gets.push(Get::plain(d));
            continue;
        };
        let k = *at.entry(t).or_insert_with(|| {
            gets.push(Get {
                path: format!(
                    "{t}?$expand=.($levels={})",
                    deep.get(t).copied().unwrap_or(1)
                ),
                docs: Vec::new(),
                expanded: true,
            });
            gets.len() - 1
        });
        gets[k].docs.push(d.clone());
    }
    gets
}

/// The path an expanded GET asks for, without its query (what [`plan`]'s `not` names).
pub fn expanded_path(get: &Get) -> &str {
    get.path.split('?').next().unwrap_or_default()
}

/// The whole resources of an expanded answer, by their `@odata.id` (sanitized, as
/// discovery names them): the objects that say their `@odata.type` and hold more than
/// `@odata` annotations (a link, even one with its type, is not the resource); nothing under
/// `Links`. One walk of the answer.
pub struct Whole<'a>(BTreeMap<String, &'a Value>);

impl<'a> Whole<'a> {
    /// The whole resources of `answer`.
    pub fn of(answer: &'a Value) -> Whole<'a> {
        let mut found = BTreeMap::new();
        walk(answer, &mut found);
        Whole(found)
    }

    /// The resource `doc`, if the answer holds it whole.
    pub fn get(&self, doc: &str) -> Option<&'a Value> {
        self.0.get(doc).copied()
    }
}

fn walk<'a>(v: &'a Value, found: &mut BTreeMap<String, &'a Value>) {
    match v {
        Value::Object(o) => {
            let whole = o.contains_key("@odata.type") && o.keys().any(|k| !k.starts_with('@'));
            if let (true, Some(id)) = (whole, o.get("@odata.id").and_then(Value::as_str)) {
                found.entry(envmon_core::text::sanitize(id)).or_insert(v);
            }
            for (k, child) in o {
                if k != "Links" {
                    walk(child, found);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|c| walk(c, found)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn docs(list: &[&str]) -> Vec<String> {
        list.iter()
            .map(|d| format!("/redfish/v1/Chassis/{d}"))
            .collect()
    }

    fn paths(gets: &[Get]) -> Vec<String> {
        gets.iter()
            .map(|g| g.path.replace("/redfish/v1/Chassis/", ""))
            .collect()
    }

    /// DMTF's smart-NIC server's auto board: 19 resources in 1U's Sensors, Fans,
    /// PowerSubsystem (with its PowerSupplies) and one fan of Card1.
    #[test]
    fn collections_are_read_expanded_and_a_read_parent_takes_its_members_in() {
        let d = docs(&[
            "1U/Sensors/AmbientTemp",
            "1U/Sensors/CPU1Temp",
            "1U/Sensors/PS1Out12V",
            "1U/ThermalSubsystem/Fans/Bay1",
            "1U/ThermalSubsystem/Fans/Bay2",
            "1U/PowerSubsystem/PowerSupplies/Bay1",
            "1U/PowerSubsystem/PowerSupplies/Bay2",
            "1U/PowerSubsystem",
            "Card1/ThermalSubsystem/Fans/CPU1",
        ]);
        let gets = plan(&d, 6, &[]);
        assert_eq!(
            paths(&gets),
            [
                "1U/Sensors?$expand=.($levels=1)",
                "1U/ThermalSubsystem/Fans?$expand=.($levels=1)",
                "1U/PowerSubsystem?$expand=.($levels=2)",
                "Card1/ThermalSubsystem/Fans/CPU1",
            ]
        );
        assert_eq!(gets[2].docs.len(), 3);
        assert!(gets[2].expanded && !gets[3].expanded);
        // Every resource is in exactly one GET.
        let mut all: Vec<String> = gets.iter().flat_map(|g| g.docs.clone()).collect();
        all.sort();
        let mut want = d.clone();
        want.sort();
        assert_eq!(all, want);
        // One level only: the supplies' collection on its own.
        assert_eq!(
            paths(&plan(&d, 1, &[]))[2..],
            [
                "1U/PowerSubsystem/PowerSupplies?$expand=.($levels=1)",
                "1U/PowerSubsystem",
                "Card1/ThermalSubsystem/Fans/CPU1"
            ]
        );
        // A read PowerSubsystem takes in its one supply too.
        let one = docs(&["1U/PowerSubsystem", "1U/PowerSubsystem/PowerSupplies/Bay1"]);
        assert_eq!(
            paths(&plan(&one, 2, &[])),
            ["1U/PowerSubsystem?$expand=.($levels=2)"]
        );
        // The deprecated Thermal and Power are not members of a collection: their chassis
        // is not expanded.
        let old = docs(&["1/Thermal", "1/Power"]);
        assert_eq!(plan(&old, 6, &[]), plan(&old, 0, &[]));
        // No $expand: one GET each, in order.
        let plain = plan(&d, 0, &[]);
        assert_eq!(plain.len(), d.len());
        assert_eq!(plain[0].path, d[0]);
    }

    /// What the service does not expand is planned one GET per resource, the rest still
    /// expanded; a parent it does not expand leaves its collection to itself.
    #[test]
    fn what_the_service_does_not_expand_is_read_alone() {
        let d = docs(&[
            "1U/Sensors/A",
            "1U/Sensors/B",
            "1U/PowerSubsystem/PowerSupplies/Bay1",
            "1U/PowerSubsystem/PowerSupplies/Bay2",
            "1U/PowerSubsystem",
        ]);
        let not = docs(&["1U/Sensors", "1U/PowerSubsystem"]);
        assert_eq!(
            paths(&plan(&d, 3, &not)),
            [
                "1U/Sensors/A",
                "1U/Sensors/B",
                "1U/PowerSubsystem/PowerSupplies?$expand=.($levels=1)",
                "1U/PowerSubsystem",
            ]
        );
    }

    #[test]
    fn features_are_what_the_root_says_and_bounded() {
        let root = |q: Value| json!({"ProtocolFeaturesSupported": {"ExpandQuery": q}});
        let dmtf = json!({"ExpandAll": true, "Levels": true, "MaxLevels": 6, "Links": true,
            "NoLinks": true});
        assert_eq!(features(&root(dmtf)).expand, MAX_LEVELS);
        // HPE's DL325 Gen10 Plus: levels, one of them, `.` (NoLinks) but not `*`.
        let hpe = json!({"ExpandAll": false, "Levels": true, "Links": false, "MaxLevels": 1,
            "NoLinks": true});
        assert_eq!(features(&root(hpe)).expand, 1);
        assert_eq!(
            features(&json!({})),
            Features::default(),
            "Intel's says nothing"
        );
        // `*` alone: envmon asks for `.`, which it did not say.
        let all = json!({"ExpandAll": true, "Levels": true});
        assert_eq!(features(&root(all)).expand, 0);
        assert_eq!(features(&root(json!("yes"))).expand, 0);
        let serial = json!({"ProtocolFeaturesSupported": {"MultipleHTTPRequests": false}});
        assert!(features(&serial).one_at_a_time);
    }

    #[test]
    fn a_resource_is_found_whole_never_as_a_link() {
        let a = json!({"@odata.id": "/c", "@odata.type": "#C.C", "Id": "c",
            "Links": {"Chassis": [{"@odata.id": "/x", "@odata.type": "#X.X", "Id": "x"}]},
            "Members": [{"@odata.id": "/c/1"},
                {"@odata.id": "/c/3", "@odata.type": "#Sensor.v1_0_0.Sensor"},
                {"@odata.id": "/c/2", "@odata.type": "#Sensor.v1_0_0.Sensor", "Reading": 3}]});
        let w = Whole::of(&a);
        assert!(w.get("/c/1").is_none(), "a bare link is not the resource");
        assert!(w.get("/c/3").is_none(), "nor a link that says its type");
        assert_eq!(w.get("/c/2").unwrap()["Reading"], 3);
        assert!(w.get("/x").is_none(), "Links are not expanded resources");
        assert_eq!(w.get("/c").unwrap()["Id"], "c");
    }
}
