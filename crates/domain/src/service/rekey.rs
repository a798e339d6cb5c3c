//! Main key rotation: re-sealing every endpoint secret (signing keys, and the sealed
//! credentials of endpoints' access settings), every inspector inbox's token and every
//! kept idempotent answer under the current main key.
//!
//! While a rotation runs, every process is configured with the new key as
//! `HERALD_MAIN_KEY` and the old one as a fallback, so secrets sealed under either open
//! (see `crypto::Keyring`). [`reseal`] then moves the stored secrets over in batches,
//! one short transaction each; when it reports none left under another key, the
//! fallback can go.
//!
//! Before it writes anything, [`census`] opens every stored secret: if one does not open
//! with the configured keys (a wrong key, a missing fallback), the rotation stops there
//! and the database is as it was.
//!
//! This works across tenants by design, hence the unscoped queries below.

use std::collections::BTreeMap;

use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::Expr,
};

use crate::{
    Context, DbContext, Error, Result,
    crypto::Keyring,
    entity::{endpoint, endpoint_secret, idempotency_key, inbox},
    id::{EndpointSecretId, TenantId},
};

/// Rows read and re-sealed per transaction, unless the caller says otherwise.
pub const BATCH: u64 = 500;

/// How many stored secrets each main key sealed (by key id), all of them opened.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Census {
    pub by_key: BTreeMap<String, u64>,
    pub current_key: String,
}

impl Census {
    /// Secrets sealed under a key other than the current one.
    pub fn under_other_keys(&self) -> u64 {
        self.by_key
            .iter()
            .filter(|(id, _)| **id != self.current_key)
            .map(|(_, n)| n)
            .sum()
    }
}

/// What a rotation did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Resealed {
    /// Secrets moved to the current key.
    pub resealed: u64,
    /// Secrets the current key had sealed already.
    pub unchanged: u64,
}

/// Up to `size` rows after `after`, in id order.
async fn batch<C: ConnectionTrait>(
    conn: &C,
    after: Option<&EndpointSecretId>,
    size: u64,
) -> Result<Vec<endpoint_secret::Model>> {
    #[expect(clippy::disallowed_methods, reason = "a key rotation covers every tenant")]
    let mut query = endpoint_secret::Entity::find().order_by_asc(endpoint_secret::Column::Id);
    if let Some(after) = after {
        query = query.filter(endpoint_secret::Column::Id.gt(after.clone()));
    }
    query
        .limit(size)
        .all(conn)
        .await
        .context("reading endpoint secrets")
}

/// A column of values sealed with their row's id as associated data: an endpoint's
/// gateway credentials, an inbox's token.
struct SealedById<E: EntityTrait> {
    id: E::Column,
    sealed: E::Column,
    /// What one value is, for errors: "the credentials of endpoint".
    what: &'static str,
    reading: &'static str,
    resealing: &'static str,
}

fn credentials() -> SealedById<endpoint::Entity> {
    SealedById {
        id: endpoint::Column::Id,
        sealed: endpoint::Column::Credentials,
        what: "the credentials of endpoint",
        reading: "reading endpoint credentials",
        resealing: "re-sealing endpoint credentials",
    }
}

fn inbox_tokens() -> SealedById<inbox::Entity> {
    SealedById {
        id: inbox::Column::Id,
        sealed: inbox::Column::TokenSealed,
        what: "the token of inbox",
        reading: "reading inbox tokens",
        resealing: "re-sealing an inbox token",
    }
}

impl<E: EntityTrait> SealedById<E> {
    /// Up to `size` rows with a sealed value after the row `after`, in id order.
    async fn batch<C: ConnectionTrait>(
        &self,
        conn: &C,
        after: Option<&String>,
        size: u64,
    ) -> Result<Vec<(String, Vec<u8>)>> {
        #[expect(clippy::disallowed_methods, reason = "a key rotation covers every tenant")]
        let mut query = E::find()
            .select_only()
            .column(self.id)
            .column(self.sealed)
            .filter(self.sealed.is_not_null())
            .order_by_asc(self.id);
        if let Some(after) = after {
            query = query.filter(self.id.gt(after.clone()));
        }
        query
            .limit(size)
            .into_tuple()
            .all(conn)
            .await
            .context(self.reading)
    }

    fn open(&self, keyring: &Keyring, id: &str, sealed: &[u8]) -> Result<Vec<u8>> {
        keyring
            .open(sealed, id.as_bytes())
            .map_err(|e| Error::rejected(format!("{} {id} does not open: {e}", self.what)))
    }

    /// Opens every value, counting them by the key that sealed them.
    async fn count(&self, ctx: &Context, census: &mut Census) -> Result<()> {
        let mut after = None;
        loop {
            let rows = self.batch(&ctx.db, after.as_ref(), BATCH).await?;
            for (id, sealed) in &rows {
                self.open(&ctx.keyring, id, sealed)?;
                let key = Keyring::sealed_by(sealed).unwrap_or_default();
                *census.by_key.entry(key).or_default() += 1;
            }
            match rows.last() {
                Some((last, _)) if rows.len() as u64 == BATCH => after = Some(last.clone()),
                _ => return Ok(()),
            }
        }
    }

    /// Re-seals under the current key every value another key sealed, `batch_size` rows
    /// per transaction, each only if it still holds what was read.
    async fn reseal(&self, ctx: &Context, batch_size: u64, done: &mut Resealed) -> Result<()> {
        let mut after = None;
        loop {
            let txn = crate::db::begin_write(ctx).await?;
            let rows = self.batch(&txn, after.as_ref(), batch_size).await?;
            for (id, sealed) in &rows {
                if ctx.keyring.sealed_by_current(sealed) {
                    done.unchanged += 1;
                    continue;
                }
                let plain = self.open(&ctx.keyring, id, sealed)?;
                let resealed = ctx.keyring.seal(&plain, id.as_bytes())?;
                #[expect(clippy::disallowed_methods, reason = "a key rotation covers every tenant")]
                let updated = E::update_many()
                    .col_expr(self.sealed, Expr::value(resealed))
                    .filter(self.id.eq(id.clone()))
                    .filter(self.sealed.eq(sealed.clone()))
                    .exec(&txn)
                    .await
                    .context(self.resealing)?;
                done.resealed += updated.rows_affected;
            }
            txn.commit().await.context("committing a re-seal batch")?;
            match rows.last() {
                Some((last, _)) if rows.len() as u64 == batch_size => after = Some(last.clone()),
                _ => return Ok(()),
            }
        }
    }
}

/// A kept idempotent answer: its row's key (tenant, scope, key) and the sealed body.
type Answer = (TenantId, String, String, Vec<u8>);

/// Up to `size` sealed idempotent answers after the row `after`, in key order.
async fn answer_batch<C: ConnectionTrait>(
    conn: &C,
    after: Option<&Answer>,
    size: u64,
) -> Result<Vec<Answer>> {
    use idempotency_key::Column as C;
    #[expect(clippy::disallowed_methods, reason = "a key rotation covers every tenant")]
    let mut query = idempotency_key::Entity::find()
        .select_only()
        .columns([C::TenantId, C::Scope, C::Key, C::ResponseSealed])
        .filter(C::ResponseSealed.is_not_null())
        .order_by_asc(C::TenantId)
        .order_by_asc(C::Scope)
        .order_by_asc(C::Key);
    if let Some((tenant, scope, key, _)) = after {
        query = query.filter(
            Condition::any()
                .add(C::TenantId.gt(tenant.clone()))
                .add(
                    Condition::all()
                        .add(C::TenantId.eq(tenant.clone()))
                        .add(C::Scope.gt(scope.as_str())),
                )
                .add(
                    Condition::all()
                        .add(C::TenantId.eq(tenant.clone()))
                        .add(C::Scope.eq(scope.as_str()))
                        .add(C::Key.gt(key.as_str())),
                ),
        );
    }
    query
        .limit(size)
        .into_tuple()
        .all(conn)
        .await
        .context("reading kept idempotent answers")
}

fn open_answer(keyring: &Keyring, (tenant, scope, key, sealed): &Answer) -> Result<Vec<u8>> {
    keyring
        .open(sealed, &idempotency_key::associated_data(tenant, scope, key))
        .map_err(|e| {
            Error::rejected(format!(
                "a kept idempotent answer of tenant {tenant} does not open: {e}"
            ))
        })
}

/// Opens `row` or says which row would not open, and why.
fn open(keyring: &Keyring, row: &endpoint_secret::Model) -> Result<Vec<u8>> {
    keyring
        .open(&row.ciphertext, row.endpoint_id.as_str().as_bytes())
        .map_err(|e| {
            Error::rejected(format!(
                "the signing secret {} of endpoint {} does not open: {e}",
                row.id, row.endpoint_id
            ))
        })
}

/// Opens every stored secret with the configured keys and counts them by the key that
/// sealed them. Changes nothing.
pub async fn census(ctx: &Context) -> Result<Census> {
    let mut census = Census {
        current_key: ctx.keyring.current().id(),
        ..Census::default()
    };
    let mut after = None;
    loop {
        let rows = batch(&ctx.db, after.as_ref(), BATCH).await?;
        for row in &rows {
            open(&ctx.keyring, row)?;
            let key = Keyring::sealed_by(&row.ciphertext).unwrap_or_default();
            *census.by_key.entry(key).or_default() += 1;
        }
        match rows.last() {
            Some(last) if rows.len() as u64 == BATCH => after = Some(last.id.clone()),
            _ => break,
        }
    }
    credentials().count(ctx, &mut census).await?;
    inbox_tokens().count(ctx, &mut census).await?;
    let mut after = None;
    loop {
        let rows = answer_batch(&ctx.db, after.as_ref(), BATCH).await?;
        for answer in &rows {
            open_answer(&ctx.keyring, answer)?;
            let key = Keyring::sealed_by(&answer.3).unwrap_or_default();
            *census.by_key.entry(key).or_default() += 1;
        }
        match rows.last() {
            Some(last) if rows.len() as u64 == BATCH => after = Some(last.clone()),
            _ => return Ok(census),
        }
    }
}

/// Re-seals every endpoint secret that another key sealed under the current main key,
/// `batch_size` rows per transaction.
///
/// Runs [`census`] first, so a key that cannot open everything changes nothing. Each
/// row is replaced only if it still holds what was read, so a secret rotated through the
/// API meanwhile is never overwritten with an older value; running it again is harmless.
pub async fn reseal(ctx: &Context, batch_size: u64) -> Result<Resealed> {
    let batch_size = batch_size.max(1);
    census(ctx).await?;
    let mut done = Resealed::default();
    let mut after = None;
    loop {
        let txn = crate::db::begin_write(ctx).await?;
        let rows = batch(&txn, after.as_ref(), batch_size).await?;
        for row in &rows {
            if ctx.keyring.sealed_by_current(&row.ciphertext) {
                done.unchanged += 1;
                continue;
            }
            let plain = open(&ctx.keyring, row)?;
            let sealed = ctx.keyring.seal(&plain, row.endpoint_id.as_str().as_bytes())?;
            #[expect(clippy::disallowed_methods, reason = "a key rotation covers every tenant")]
            let updated = endpoint_secret::Entity::update_many()
                .col_expr(endpoint_secret::Column::Ciphertext, Expr::value(sealed))
                .filter(endpoint_secret::Column::Id.eq(row.id.clone()))
                .filter(endpoint_secret::Column::Ciphertext.eq(row.ciphertext.clone()))
                .exec(&txn)
                .await
                .context("re-sealing an endpoint secret")?;
            done.resealed += updated.rows_affected;
        }
        txn.commit().await.context("committing a re-seal batch")?;
        match rows.last() {
            Some(last) if rows.len() as u64 == batch_size => after = Some(last.id.clone()),
            _ => break,
        }
    }
    credentials().reseal(ctx, batch_size, &mut done).await?;
    inbox_tokens().reseal(ctx, batch_size, &mut done).await?;
    let mut after = None;
    loop {
        let txn = crate::db::begin_write(ctx).await?;
        let rows = answer_batch(&txn, after.as_ref(), batch_size).await?;
        for answer in &rows {
            let (tenant, scope, key, sealed) = answer;
            if ctx.keyring.sealed_by_current(sealed) {
                done.unchanged += 1;
                continue;
            }
            let plain = open_answer(&ctx.keyring, answer)?;
            let resealed = ctx
                .keyring
                .seal(&plain, &idempotency_key::associated_data(tenant, scope, key))?;
            #[expect(clippy::disallowed_methods, reason = "a key rotation covers every tenant")]
            let updated = idempotency_key::Entity::update_many()
                .col_expr(idempotency_key::Column::ResponseSealed, Expr::value(resealed))
                .filter(idempotency_key::Column::TenantId.eq(tenant.clone()))
                .filter(idempotency_key::Column::Scope.eq(scope.as_str()))
                .filter(idempotency_key::Column::Key.eq(key.as_str()))
                .filter(idempotency_key::Column::ResponseSealed.eq(sealed.clone()))
                .exec(&txn)
                .await
                .context("re-sealing a kept idempotent answer")?;
            done.resealed += updated.rows_affected;
        }
        txn.commit().await.context("committing a re-seal batch")?;
        match rows.last() {
            Some(last) if rows.len() as u64 == batch_size => after = Some(last.clone()),
            _ => return Ok(done),
        }
    }
}
