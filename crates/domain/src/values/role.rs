//! What a dashboard user may do.

use std::{fmt, str::FromStr};

use sea_orm::{DeriveActiveEnum, EnumIter, sea_query::StringLen};

use crate::Error;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum Role {
    /// Reads and changes everything of the tenant.
    #[sea_orm(string_value = "admin")]
    Admin,
    /// Reads everything, changes nothing.
    #[sea_orm(string_value = "viewer")]
    Viewer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Viewer => "viewer",
        }
    }

    pub fn can_write(self) -> bool {
        self == Self::Admin
    }
}

impl FromStr for Role {
    type Err = Error;

    fn from_str(value: &str) -> Result<Self, Error> {
        match value {
            "admin" => Ok(Self::Admin),
            "viewer" => Ok(Self::Viewer),
            _ => Err(Error::invalid("role", "must be `admin` or `viewer`")),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
