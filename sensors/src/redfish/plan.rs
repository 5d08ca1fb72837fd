//! Pure: which GETs a sweep makes. Without `$expand` each resource the items live in is one
//! GET (as before issue 34). A service whose root says it expands
//! (`ProtocolFeaturesSupported.ExpandQuery`: `Levels`, and `ExpandAll` or `NoLinks`) is
//! asked for a collection holding two or more of them once, expanded one level
//! (`?$expand=.($levels=1)`, DSP0266's "subordinate hyperlinks, not `Links`"); a resource
//! that is itself read and lies above such a collection takes it in, expanded as deep as
//! needed within the service's `MaxLevels` (the `PowerSubsystem`, read for its redundancy
//! groups, holds its `PowerSupplies`: one GET, two levels).
//!
//! Only the collections of [`COLLECTIONS`] are expanded. A plan assumes a resource's path
//! names its place (a member of `…/Sensors` is one level
//! under it), as Redfish's URIs do; the reader checks every answer for the resources it was
//! to hold ([`found`]) and reads those it lacks one by one.

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

/// How deep the service at `root` (its service root) expands: 0 when it does not say it
/// does; else its `MaxLevels` (1 when not said), at most [`MAX_LEVELS`].
pub fn expand_levels(root: &Value) -> u8 {
    let Some(q) = root
        .get("ProtocolFeaturesSupported")
        .and_then(|p| p.get("ExpandQuery"))
    else {
        return 0;
    };
    let yes = |k: &str| q.get(k).and_then(Value::as_bool) == Some(true);
    if !yes("Levels") || !(yes("ExpandAll") || yes("NoLinks")) {
        return 0;
    }
    let max = q.get("MaxLevels").and_then(Value::as_u64).unwrap_or(1);
    u8::try_from(max.min(u64::from(MAX_LEVELS))).unwrap_or(MAX_LEVELS)
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
/// expanding `levels` deep (0: one GET each). The GETs keep the order of their first
/// resource.
pub fn plan(docs: &[String], levels: u8) -> Vec<Get> {
    if levels == 0 {
        return docs.iter().map(|d| Get::plain(d)).collect();
    }
    // Collections holding two or more of the resources.
    let mut members: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for d in docs {
        members.entry(parent(d)).or_default().push(d);
    }
    members.retain(|coll, m| {
        m.len() >= 2
            && COLLECTIONS
                .iter()
                .any(|c| coll.rsplit('/').next() == Some(c))
    });
    // A read resource above a collection takes it in, within the levels; each top is
    // expanded as deep as its deepest collection needs.
    let mut top: BTreeMap<&str, &str> = BTreeMap::new();
    let mut deep: BTreeMap<&str, usize> = BTreeMap::new();
    for coll in members.keys() {
        let (t, n) = docs
            .iter()
            .filter_map(|d| Some((d.as_str(), depth_below(d, coll)? + 1)))
            .filter(|(_, n)| *n <= usize::from(levels))
            .min_by_key(|(d, _)| d.len())
            .unwrap_or((coll, 1));
        top.insert(coll, t);
        let e = deep.entry(t).or_insert(n);
        *e = (*e).max(n);
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

/// The resource `doc` inside an expanded answer: the object whose `@odata.id` is `doc` and
/// that is a whole resource (it says its `@odata.type`; a bare link does not).
pub fn found<'a>(answer: &'a Value, doc: &str) -> Option<&'a Value> {
    match answer {
        Value::Object(o) => {
            let whole = o.get("@odata.type").is_some()
                && o.get("@odata.id").and_then(Value::as_str) == Some(doc);
            if whole {
                return Some(answer);
            }
            o.iter()
                .filter(|(k, _)| k.as_str() != "Links")
                .find_map(|(_, v)| found(v, doc))
        }
        Value::Array(a) => a.iter().find_map(|v| found(v, doc)),
        _ => None,
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
        let gets = plan(&d, 6);
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
            paths(&plan(&d, 1))[2..],
            [
                "1U/PowerSubsystem/PowerSupplies?$expand=.($levels=1)",
                "1U/PowerSubsystem",
                "Card1/ThermalSubsystem/Fans/CPU1"
            ]
        );
        // The deprecated Thermal and Power are not members of a collection: their chassis
        // is not expanded.
        let old = docs(&["1/Thermal", "1/Power"]);
        assert_eq!(plan(&old, 6), plan(&old, 0));
        // No $expand: one GET each, in order.
        let plain = plan(&d, 0);
        assert_eq!(plain.len(), d.len());
        assert_eq!(plain[0].path, d[0]);
    }

    #[test]
    fn expansion_is_what_the_root_says_and_bounded() {
        let root = |q: Value| json!({"ProtocolFeaturesSupported": {"ExpandQuery": q}});
        let dmtf = json!({"ExpandAll": true, "Levels": true, "MaxLevels": 6, "Links": true,
            "NoLinks": true});
        assert_eq!(expand_levels(&root(dmtf)), MAX_LEVELS);
        // HPE's DL325 Gen10 Plus: levels, one of them, no ExpandAll but NoLinks.
        let hpe = json!({"ExpandAll": false, "Levels": true, "Links": false, "MaxLevels": 1,
            "NoLinks": true});
        assert_eq!(expand_levels(&root(hpe)), 1);
        assert_eq!(
            expand_levels(&json!({})),
            0,
            "Intel's S2600BPB says nothing"
        );
        assert_eq!(expand_levels(&root(json!({"ExpandAll": true}))), 0);
        assert_eq!(expand_levels(&root(json!("yes"))), 0);
    }

    #[test]
    fn a_resource_is_found_whole_never_as_a_link() {
        let a = json!({"@odata.id": "/c", "@odata.type": "#C.C",
            "Links": {"Chassis": [{"@odata.id": "/x", "@odata.type": "#X.X"}]},
            "Members": [{"@odata.id": "/c/1"},
                {"@odata.id": "/c/2", "@odata.type": "#Sensor.v1_0_0.Sensor", "Reading": 3}]});
        assert!(
            found(&a, "/c/1").is_none(),
            "a bare link is not the resource"
        );
        assert_eq!(found(&a, "/c/2").unwrap()["Reading"], 3);
        assert!(
            found(&a, "/x").is_none(),
            "Links are not expanded resources"
        );
        assert_eq!(found(&a, "/c").unwrap()["@odata.id"], "/c");
    }
}
