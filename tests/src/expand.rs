//! Redfish's `$expand` as DSP0266 (Redfish Specification, "Query parameters") defines it,
//! for [`crate::HttpProxy`]: sushy-static answers any query string 404, so the proxy expands its
//! answers itself over the same mockup files. Only what the specification says of `.` (every
//! subordinate hyperlink, not those under `Links`) and `*` (every hyperlink) with `$levels`
//! is implemented; `~` is answered as `.`.

use serde_json::Value;

/// What a query string asks to expand: `Some((levels, with_links))` for `$expand=.`, `~`
/// or `*` with an optional `($levels=N)` (1 when absent).
pub fn expand_query(query: &str) -> Option<(u8, bool)> {
    let q = query.split('&').find_map(|p| p.strip_prefix("$expand="))?;
    let (what, rest) = q.split_at(q.len().min(1));
    let links = match what {
        "." | "~" => false,
        "*" => true,
        _ => return None,
    };
    let levels = match rest {
        "" => 1,
        r => r
            .strip_prefix("($levels=")?
            .strip_suffix(')')?
            .parse()
            .ok()?,
    };
    Some((levels, links))
}

/// A bare hyperlink (`{"@odata.id": "/redfish/v1/..."}`, no JSON pointer): where it points.
fn link(v: &Value) -> Option<&str> {
    let o = v.as_object()?;
    let id = o.get("@odata.id")?.as_str()?;
    (o.len() == 1 && id.starts_with("/redfish/v1") && !id.contains('#')).then_some(id)
}

/// Expands `v` `levels` deep: each hyperlink (those under `Links` too when `links`) is
/// replaced by the resource `get` answers for it, itself expanded one level less.
pub fn expand(v: &mut Value, levels: u8, links: bool, get: &mut dyn FnMut(&str) -> Option<Value>) {
    if levels == 0 {
        return;
    }
    let mut one = |child: &mut Value| match link(child).map(str::to_string) {
        Some(id) => {
            if let Some(mut r) = get(&id) {
                expand(&mut r, levels - 1, links, get);
                *child = r;
            }
        }
        None => expand(child, levels, links, get),
    };
    match v {
        Value::Object(o) => {
            for (k, child) in o.iter_mut() {
                if k != "@odata.id" && (links || k != "Links") {
                    one(child);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(one),
        _ => {}
    }
}

/// A service root's body without its `ExpandQuery` (a service that does not expand).
pub fn without_expand(body: &str) -> String {
    let Ok(mut v) = serde_json::from_str::<Value>(body) else {
        return body.to_string();
    };
    if let Some(p) = v
        .get_mut("ProtocolFeaturesSupported")
        .and_then(Value::as_object_mut)
    {
        p.remove("ExpandQuery");
    }
    v.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn queries_are_read_as_the_specification_writes_them() {
        assert_eq!(expand_query("$expand=.($levels=2)"), Some((2, false)));
        assert_eq!(expand_query("a=b&$expand=*"), Some((1, true)));
        assert_eq!(expand_query("$expand=~"), Some((1, false)));
        assert_eq!(expand_query("$expand=x"), None);
        assert_eq!(expand_query("$expand=.($levels=x)"), None);
        assert_eq!(expand_query("$select=Name"), None);
    }

    #[test]
    fn subordinate_links_are_expanded_to_the_levels_links_are_not() {
        let mut v = json!({"@odata.id": "/redfish/v1/P",
            "Supplies": {"@odata.id": "/redfish/v1/P/S"},
            "Links": {"Chassis": [{"@odata.id": "/redfish/v1/C"}]},
            "Groups": [{"@odata.id": "/redfish/v1/P#/Groups/0"}]});
        let mut asked = Vec::new();
        let mut get = |p: &str| {
            asked.push(p.to_string());
            Some(match p {
                "/redfish/v1/P/S" => json!({"@odata.id": p,
                    "Members": [{"@odata.id": "/redfish/v1/P/S/1"}]}),
                _ => json!({"@odata.id": p, "Name": "one"}),
            })
        };
        expand(&mut v, 2, false, &mut get);
        assert_eq!(asked, ["/redfish/v1/P/S", "/redfish/v1/P/S/1"]);
        assert_eq!(v["Supplies"]["Members"][0]["Name"], "one");
        assert_eq!(
            v["Links"]["Chassis"][0],
            json!({"@odata.id": "/redfish/v1/C"})
        );
        let mut one_level = json!({"S": {"@odata.id": "/redfish/v1/P/S"}});
        expand(&mut one_level, 1, false, &mut |p| {
            Some(json!({"@odata.id": p, "Members": [{"@odata.id": "/redfish/v1/P/S/1"}]}))
        });
        assert_eq!(
            one_level["S"]["Members"][0],
            json!({"@odata.id": "/redfish/v1/P/S/1"})
        );
    }
}
