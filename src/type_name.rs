//! Type names as a user writes them: `PersistentRemoteUserFilter`, not
//! `remote_user_filter::remote_user::PersistentRemoteUserFilter<...>`.

/// The last path segment of `T`'s name, without generic arguments.
///
/// ```
/// use remote_user_filter::short_type_name;
/// struct CorpRemoteUser;
/// assert_eq!(short_type_name::<CorpRemoteUser>(), "CorpRemoteUser");
/// assert_eq!(short_type_name::<Vec<String>>(), "Vec");
/// ```
pub fn short_type_name<T: ?Sized>() -> String {
    let full = std::any::type_name::<T>();
    let outer = full.split('<').next().unwrap_or(full);
    outer.rsplit("::").next().unwrap_or(outer).to_owned()
}
