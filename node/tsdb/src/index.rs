//! The series index in sled: (tenant, namespace, name, dimensions) <-> series id, per tenant.
//!
//! A series id is `tenant number << 32 | sequence within the tenant`, so a tenant's series are
//! one id range. Tenant numbers are never reused, so a dropped tenant's ids never come back.
//! New mappings are flushed before any block that names them is written.

use crate::error::{Error, Result};
use crate::key::{SeriesFilter, SeriesKey};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Mutex, RwLock};

/// Most series a tenant may hold (ids are 32-bit within a tenant).
pub const TENANT_SERIES_MAX: u64 = u32::MAX as u64;
const NEXT_TENANT: &[u8] = b"next-tenant";

pub(crate) struct SeriesIndex {
    db: sled::Db,
    tenants: sled::Tree,
    series: sled::Tree,
    ids: sled::Tree,
    meta: sled::Tree,
    dropping: sled::Tree,
    dropped: sled::Tree,
    cache: RwLock<HashMap<SeriesKey, u64>>,
    alloc: Mutex<()>,
}

fn be32(b: &[u8]) -> Result<u32> {
    Ok(u32::from_be_bytes(
        b.try_into()
            .map_err(|_| Error::corrupt("series index", "u32"))?,
    ))
}

fn be64(b: &[u8]) -> Result<u64> {
    Ok(u64::from_be_bytes(
        b.try_into()
            .map_err(|_| Error::corrupt("series index", "u64"))?,
    ))
}

pub(crate) fn tenant_of(id: u64) -> u32 {
    (id >> 32) as u32
}

impl SeriesIndex {
    pub(crate) fn open(dir: &Path) -> Result<SeriesIndex> {
        let db = sled::Config::new().path(dir).open()?;
        Ok(SeriesIndex {
            tenants: db.open_tree("tenants")?,
            series: db.open_tree("series")?,
            ids: db.open_tree("ids")?,
            meta: db.open_tree("meta")?,
            dropping: db.open_tree("dropping")?,
            dropped: db.open_tree("dropped")?,
            db,
            cache: RwLock::new(HashMap::new()),
            alloc: Mutex::new(()),
        })
    }

    pub(crate) fn flush(&self) -> Result<()> {
        self.db.flush()?;
        Ok(())
    }

    pub(crate) fn tenant_no(&self, tenant: &str) -> Result<Option<u32>> {
        self.tenants
            .get(tenant.as_bytes())?
            .map(|v| be32(&v))
            .transpose()
    }

    fn series_key_bytes(tenant_no: u32, key: &SeriesKey) -> Vec<u8> {
        let mut k = tenant_no.to_be_bytes().to_vec();
        k.extend_from_slice(&key.local_bytes());
        k
    }

    /// The id of an existing series.
    pub(crate) fn lookup(&self, key: &SeriesKey) -> Result<Option<u64>> {
        if let Some(id) = self.cache.read().expect("cache lock").get(key) {
            return Ok(Some(*id));
        }
        let Some(t) = self.tenant_no(&key.tenant)? else {
            return Ok(None);
        };
        let id = self
            .series
            .get(Self::series_key_bytes(t, key))?
            .map(|v| be64(&v))
            .transpose()?;
        if let Some(id) = id {
            self.cache
                .write()
                .expect("cache lock")
                .insert(key.clone(), id);
        }
        Ok(id)
    }

    /// The id of a series, created when new.
    pub(crate) fn resolve(&self, key: &SeriesKey) -> Result<u64> {
        if let Some(id) = self.lookup(key)? {
            return Ok(id);
        }
        let _guard = self.alloc.lock().expect("alloc lock");
        if let Some(id) = self.lookup(key)? {
            return Ok(id);
        }
        let t = match self.tenant_no(&key.tenant)? {
            Some(t) => t,
            None => self.new_tenant(&key.tenant)?,
        };
        let seq_key = format!("seq/{t}");
        let seq = self
            .meta
            .get(&seq_key)?
            .map(|v| be64(&v))
            .transpose()?
            .unwrap_or(0);
        if seq >= TENANT_SERIES_MAX {
            return Err(Error::LimitExceeded {
                what: format!("series count of tenant {:?}", key.tenant),
                limit_name: "TENANT_SERIES_MAX",
                limit: TENANT_SERIES_MAX,
            });
        }
        self.meta.insert(seq_key, &(seq + 1).to_be_bytes())?;
        let id = (u64::from(t) << 32) | seq;
        self.insert_mapping(t, key, id)?;
        Ok(id)
    }

    fn new_tenant(&self, tenant: &str) -> Result<u32> {
        let next = self
            .meta
            .get(NEXT_TENANT)?
            .map(|v| be32(&v))
            .transpose()?
            .unwrap_or(1);
        self.meta.insert(NEXT_TENANT, &(next + 1).to_be_bytes())?;
        self.tenants
            .insert(tenant.as_bytes(), &next.to_be_bytes())?;
        Ok(next)
    }

    fn insert_mapping(&self, t: u32, key: &SeriesKey, id: u64) -> Result<()> {
        self.series
            .insert(Self::series_key_bytes(t, key), &id.to_be_bytes())?;
        let mut rev = key.tenant.as_bytes().to_vec();
        rev.push(0);
        rev.extend_from_slice(&key.local_bytes());
        self.ids.insert(id.to_be_bytes(), rev)?;
        self.cache
            .write()
            .expect("cache lock")
            .insert(key.clone(), id);
        Ok(())
    }

    /// Makes sure a mapping replayed from the WAL exists; returns the id to use, or `None`
    /// when the id belongs to a dropped tenant (its points are discarded).
    pub(crate) fn ensure(&self, key: &SeriesKey, id: u64) -> Result<Option<u64>> {
        let t = tenant_of(id);
        if self.dropped.contains_key(t.to_be_bytes())? {
            return Ok(None);
        }
        if let Some(known) = self.lookup(key)? {
            return Ok(Some(known));
        }
        let _guard = self.alloc.lock().expect("alloc lock");
        if self.tenant_no(&key.tenant)?.is_none() {
            self.tenants
                .insert(key.tenant.as_bytes(), &t.to_be_bytes())?;
            let next = self
                .meta
                .get(NEXT_TENANT)?
                .map(|v| be32(&v))
                .transpose()?
                .unwrap_or(1);
            self.meta
                .insert(NEXT_TENANT, &next.max(t + 1).to_be_bytes())?;
        }
        let seq_key = format!("seq/{t}");
        let seq = self
            .meta
            .get(&seq_key)?
            .map(|v| be64(&v))
            .transpose()?
            .unwrap_or(0);
        self.meta
            .insert(seq_key, &seq.max((id & 0xffff_ffff) + 1).to_be_bytes())?;
        self.insert_mapping(t, key, id)?;
        Ok(Some(id))
    }

    /// Series of a tenant matching the filter (not `active_since_ms`, which the caller
    /// applies), after `after`, at most `limit`, in key order.
    pub(crate) fn list(
        &self,
        tenant: &str,
        filter: &SeriesFilter,
        after: Option<&SeriesKey>,
        mut keep: impl FnMut(u64) -> bool,
        limit: usize,
    ) -> Result<Vec<SeriesKey>> {
        let Some(t) = self.tenant_no(tenant)? else {
            return Ok(Vec::new());
        };
        let mut prefix = t.to_be_bytes().to_vec();
        if let Some(ns) = &filter.namespace {
            prefix.extend_from_slice(ns.as_bytes());
            prefix.push(0);
            if let Some(name) = &filter.name {
                prefix.extend_from_slice(name.as_bytes());
                prefix.push(0);
            }
        }
        let start = match after {
            Some(a) => Self::series_key_bytes(t, a),
            None => prefix.clone(),
        };
        let mut out = Vec::new();
        for item in self.series.range(start..) {
            let (k, v) = item?;
            if !k.starts_with(&prefix) || out.len() >= limit {
                break;
            }
            if after.is_some() && k.as_ref() == Self::series_key_bytes(t, after.expect("some")) {
                continue;
            }
            let key = SeriesKey::from_local_bytes(tenant, &k[4..])?;
            if filter.matches(&key) && keep(be64(&v)?) {
                out.push(key);
            }
        }
        Ok(out)
    }

    /// Removes a tenant's name and every series mapping, and records it as being dropped.
    pub(crate) fn begin_drop(&self, tenant: &str) -> Result<Option<u32>> {
        let _guard = self.alloc.lock().expect("alloc lock");
        let Some(t) = self.tenant_no(tenant)? else {
            return Ok(None);
        };
        self.dropping.insert(t.to_be_bytes(), tenant.as_bytes())?;
        self.dropped.insert(t.to_be_bytes(), tenant.as_bytes())?;
        self.tenants.remove(tenant.as_bytes())?;
        let prefix = t.to_be_bytes();
        let keys: Vec<_> = self
            .series
            .scan_prefix(prefix)
            .keys()
            .collect::<sled::Result<_>>()?;
        for k in keys {
            self.series.remove(k)?;
        }
        let lo = (u64::from(t) << 32).to_be_bytes();
        let hi = ((u64::from(t) + 1) << 32).to_be_bytes();
        let ids: Vec<_> = self.ids.range(lo..hi).keys().collect::<sled::Result<_>>()?;
        for k in ids {
            self.ids.remove(k)?;
        }
        self.cache
            .write()
            .expect("cache lock")
            .retain(|k, _| k.tenant != tenant);
        self.flush()?;
        Ok(Some(t))
    }

    /// Tenants whose drop has not finished (their data may still be in blocks).
    pub(crate) fn dropping(&self) -> Result<Vec<u32>> {
        self.dropping.iter().keys().map(|k| be32(&k?)).collect()
    }

    /// Every tenant number ever dropped.
    pub(crate) fn dropped_tenants(&self) -> Result<std::collections::HashSet<u32>> {
        self.dropped.iter().keys().map(|k| be32(&k?)).collect()
    }

    pub(crate) fn end_drop(&self, t: u32) -> Result<()> {
        self.dropping.remove(t.to_be_bytes())?;
        self.flush()
    }
}
