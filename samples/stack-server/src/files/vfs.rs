//! The virtual file system: folders, files with their contents, the disk
//! quota, and the metadata objects of `POST /files/upload/metadata`.
//!
//! Like the stack, it starts with the root folder
//! (`io.cozy.files.root-dir`, path `/`) and the trash folder
//! (`io.cozy.files.trash-dir`, path `/.cozy_trash`), and a name is unique
//! among the files and folders of a folder.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use crate::clock;
use crate::error::StackError;
use crate::ids::next_rev;

/// The id of the root folder.
pub const ROOT_DIR_ID: &str = "io.cozy.files.root-dir";

/// The id of the trash folder.
pub const TRASH_DIR_ID: &str = "io.cozy.files.trash-dir";

const TRASH_DIR_NAME: &str = ".cozy_trash";

/// How long a metadata object stays usable, as in the stack.
const METADATA_LIFETIME: Duration = Duration::from_secs(10 * 60);

/// A folder.
#[derive(Clone, Debug)]
pub(crate) struct DirDoc {
    pub(crate) id: String,
    pub(crate) rev: String,
    /// `None` for the root folder only.
    pub(crate) name: Option<String>,
    /// The parent's id, `None` for the root folder only.
    pub(crate) dir_id: Option<String>,
    pub(crate) path: String,
    pub(crate) created_at: OffsetDateTime,
    pub(crate) updated_at: OffsetDateTime,
    pub(crate) tags: Vec<String>,
    pub(crate) metadata: Map<String, Value>,
    pub(crate) cozy_metadata: Option<Value>,
}

/// A file and its contents.
#[derive(Clone, Debug)]
pub(crate) struct FileDoc {
    pub(crate) id: String,
    pub(crate) rev: String,
    pub(crate) name: String,
    pub(crate) dir_id: String,
    pub(crate) created_at: OffsetDateTime,
    pub(crate) updated_at: OffsetDateTime,
    pub(crate) mime: String,
    pub(crate) class: String,
    pub(crate) executable: bool,
    pub(crate) tags: Vec<String>,
    pub(crate) metadata: Map<String, Value>,
    pub(crate) cozy_metadata: Value,
    pub(crate) contents: Bytes,
    /// The MD5 of `contents`.
    pub(crate) md5: Vec<u8>,
}

/// A folder or a file, as `GET /files/metadata?Path=` finds them.
pub(crate) enum Entry<'a> {
    Dir(&'a DirDoc),
    File(&'a FileDoc),
}

#[derive(Debug)]
pub(crate) struct Vfs {
    quota_bytes: Option<u64>,
    dirs: BTreeMap<String, DirDoc>,
    files: BTreeMap<String, FileDoc>,
    metadata: HashMap<String, (Map<String, Value>, Instant)>,
}

impl Vfs {
    pub(crate) fn new(quota_bytes: Option<u64>) -> Vfs {
        let now = clock::now();
        let root = DirDoc {
            id: ROOT_DIR_ID.to_owned(),
            rev: String::new(),
            name: None,
            dir_id: None,
            path: "/".to_owned(),
            created_at: now,
            updated_at: now,
            tags: Vec::new(),
            metadata: Map::new(),
            cozy_metadata: None,
        };
        let trash = DirDoc {
            id: TRASH_DIR_ID.to_owned(),
            name: Some(TRASH_DIR_NAME.to_owned()),
            dir_id: Some(ROOT_DIR_ID.to_owned()),
            path: format!("/{TRASH_DIR_NAME}"),
            ..root.clone()
        };
        let mut vfs = Vfs {
            quota_bytes,
            dirs: BTreeMap::new(),
            files: BTreeMap::new(),
            metadata: HashMap::new(),
        };
        for mut dir in [root, trash] {
            dir.rev = dir_rev(None, &dir);
            vfs.dirs.insert(dir.id.clone(), dir);
        }
        vfs
    }

    pub(crate) fn set_quota_bytes(&mut self, quota_bytes: Option<u64>) {
        self.quota_bytes = quota_bytes;
    }

    /// Returns the bytes used by the contents of every file.
    pub(crate) fn disk_usage(&self) -> u64 {
        self.files
            .values()
            .map(|file| file.contents.len() as u64)
            .sum()
    }

    pub(crate) fn dir(&self, id: &str) -> Option<&DirDoc> {
        self.dirs.get(id)
    }

    pub(crate) fn file(&self, id: &str) -> Option<&FileDoc> {
        self.files.get(id)
    }

    pub(crate) fn dirs(&self) -> impl Iterator<Item = &DirDoc> {
        self.dirs.values()
    }

    pub(crate) fn files(&self) -> impl Iterator<Item = &FileDoc> {
        self.files.values()
    }

    /// Returns the full path of `file`.
    pub(crate) fn file_path(&self, file: &FileDoc) -> String {
        let parent = self
            .dirs
            .get(&file.dir_id)
            .map_or("/", |dir| dir.path.as_str());
        join_path(parent, &file.name)
    }

    /// Finds the folder or file at an absolute path.
    pub(crate) fn entry_at(&self, path: &str) -> Option<Entry<'_>> {
        let path = normalize_path(path)?;
        if let Some(dir) = self.dirs.values().find(|dir| dir.path == path) {
            return Some(Entry::Dir(dir));
        }
        let (parent_path, name) = path.rsplit_once('/')?;
        let parent_path = if parent_path.is_empty() {
            "/"
        } else {
            parent_path
        };
        let parent = self.dirs.values().find(|dir| dir.path == parent_path)?;
        self.files
            .values()
            .find(|file| file.dir_id == parent.id && file.name == name)
            .map(Entry::File)
    }

    /// Returns the folders and files whose parent is `dir_id`, folders
    /// first, each group by name.
    pub(crate) fn children(&self, dir_id: &str) -> (Vec<&DirDoc>, Vec<&FileDoc>) {
        let mut dirs: Vec<&DirDoc> = self
            .dirs
            .values()
            .filter(|dir| dir.dir_id.as_deref() == Some(dir_id))
            .collect();
        dirs.sort_by(|left, right| left.name.cmp(&right.name));
        let mut files: Vec<&FileDoc> = self
            .files
            .values()
            .filter(|file| file.dir_id == dir_id)
            .collect();
        files.sort_by(|left, right| left.name.cmp(&right.name));
        (dirs, files)
    }

    fn child_exists(&self, dir_id: &str, name: &str) -> bool {
        let dir_named = self
            .dirs
            .values()
            .any(|dir| dir.dir_id.as_deref() == Some(dir_id) && dir.name.as_deref() == Some(name));
        dir_named
            || self
                .files
                .values()
                .any(|file| file.dir_id == dir_id && file.name == name)
    }

    /// Stores a new folder whose `dir_id` and `name` are set; fills its
    /// path and revision. Fails with 404 when the parent is missing and
    /// 409 when the name is taken.
    pub(crate) fn create_dir(&mut self, mut dir: DirDoc) -> Result<DirDoc, StackError> {
        let parent_id = dir.dir_id.clone().unwrap_or_else(|| ROOT_DIR_ID.to_owned());
        let name = dir.name.clone().unwrap_or_default();
        let Some(parent) = self.dirs.get(&parent_id) else {
            return Err(not_found());
        };
        dir.path = join_path(&parent.path, &name);
        if self.child_exists(&parent_id, &name) {
            return Err(already_exists());
        }
        dir.rev = dir_rev(None, &dir);
        self.dirs.insert(dir.id.clone(), dir.clone());
        Ok(dir)
    }

    /// Checks that a file of `size` bytes fits in the quota, counting the
    /// files already stored, as the stack checks before an upload.
    ///
    /// NOTE: the stack also counts old versions of files and the trash in
    /// its disk usage; this server keeps no versions.
    pub(crate) fn check_quota(&self, size: u64) -> Result<(), StackError> {
        let Some(quota) = self.quota_bytes else {
            return Ok(());
        };
        let available = quota.saturating_sub(self.disk_usage());
        match size > available {
            true => Err(StackError::jsonapi(
                413,
                "The file is too big and exceeds the disk quota",
            )),
            false => Ok(()),
        }
    }

    /// Stores a new file, in the order of the stack's checks: quota (413),
    /// parent (404, also for the trash), name taken (409), then the
    /// `Content-MD5` the client sent, if any (412).
    pub(crate) fn create_file(
        &mut self,
        mut file: FileDoc,
        expected_md5: Option<&[u8]>,
    ) -> Result<FileDoc, StackError> {
        self.check_quota(file.contents.len() as u64)?;
        let Some(parent) = self.dirs.get(&file.dir_id) else {
            return Err(StackError::jsonapi(
                404,
                "Parent directory with given DirID does not exist",
            ));
        };
        if is_in_trash(&parent.path) {
            return Err(StackError::jsonapi(404, "Parent directory is in the trash"));
        }
        if self.child_exists(&file.dir_id, &file.name) {
            return Err(already_exists());
        }
        check_md5(expected_md5, &file.md5)?;
        file.rev = file_rev(None, &file);
        self.files.insert(file.id.clone(), file.clone());
        Ok(file)
    }

    /// Replaces a stored file with `file` (same id), giving it the next
    /// revision. The caller has checked the quota and the MD5.
    pub(crate) fn replace_file(&mut self, mut file: FileDoc) -> Result<FileDoc, StackError> {
        let Some(previous) = self.files.get(&file.id) else {
            return Err(not_found());
        };
        file.rev = file_rev(Some(&previous.rev), &file);
        self.files.insert(file.id.clone(), file.clone());
        Ok(file)
    }

    /// Stores a metadata object and returns its id.
    pub(crate) fn add_metadata(&mut self, id: String, attributes: Map<String, Value>) -> String {
        let now = Instant::now();
        self.metadata
            .retain(|_, (_, added)| now.duration_since(*added) < METADATA_LIFETIME);
        self.metadata.insert(id.clone(), (attributes, now));
        id
    }

    /// Returns the metadata object `id`, or the stack's 422 when it is
    /// unknown or older than 10 minutes.
    pub(crate) fn metadata(&self, id: &str) -> Result<Map<String, Value>, StackError> {
        match self.metadata.get(id) {
            Some((attributes, added)) if added.elapsed() < METADATA_LIFETIME => {
                Ok(attributes.clone())
            }
            _ => Err(StackError::invalid_parameter(
                "MetadataID",
                "Invalid or expired MetadataID",
            )),
        }
    }
}

/// Checks the MD5 of the contents against the `Content-MD5` the client
/// sent, with the stack's 412 when they differ.
pub(crate) fn check_md5(expected: Option<&[u8]>, actual: &[u8]) -> Result<(), StackError> {
    match expected {
        Some(expected) if expected != actual => Err(StackError::precondition_failed(
            "Content-MD5",
            "Invalid hash",
        )),
        _ => Ok(()),
    }
}

/// Returns the stack's 404 for a missing file or folder (Go's
/// `os.ErrNotExist`).
pub(crate) fn not_found() -> StackError {
    StackError::jsonapi(404, "file does not exist")
}

/// Returns the stack's 409 for a taken name (Go's `os.ErrExist`).
fn already_exists() -> StackError {
    StackError::jsonapi(409, "file already exists")
}

fn is_in_trash(path: &str) -> bool {
    let trash = format!("/{TRASH_DIR_NAME}");
    path == trash || path.starts_with(&format!("{trash}/"))
}

/// Joins a folder path and a name.
pub(crate) fn join_path(parent: &str, name: &str) -> String {
    match parent {
        "/" => format!("/{name}"),
        parent => format!("{parent}/{name}"),
    }
}

/// Cleans an absolute path (`//a/./b/` is `/a/b`), or returns `None` when
/// it is relative or goes above the root.
pub(crate) fn normalize_path(path: &str) -> Option<String> {
    if !path.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            part => parts.push(part),
        }
    }
    Some(format!("/{}", parts.join("/")))
}

/// Computes the next revision of a folder from the fields of its document.
fn dir_rev(previous: Option<&str>, dir: &DirDoc) -> String {
    let body = json!({
        "name": dir.name,
        "dir_id": dir.dir_id,
        "path": dir.path,
        "updated_at": clock::format(dir.updated_at),
        "metadata": dir.metadata,
    });
    next_rev(previous, body.as_object().unwrap_or(&Map::new()))
}

/// Computes the next revision of a file from the fields of its document.
fn file_rev(previous: Option<&str>, file: &FileDoc) -> String {
    let body = json!({
        "name": file.name,
        "dir_id": file.dir_id,
        "md5": file.md5,
        "updated_at": clock::format(file.updated_at),
        "metadata": file.metadata,
    });
    next_rev(previous, body.as_object().unwrap_or(&Map::new()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(id: &str, parent: &str, name: &str) -> DirDoc {
        let now = clock::now();
        DirDoc {
            id: id.to_owned(),
            rev: String::new(),
            name: Some(name.to_owned()),
            dir_id: Some(parent.to_owned()),
            path: String::new(),
            created_at: now,
            updated_at: now,
            tags: Vec::new(),
            metadata: Map::new(),
            cozy_metadata: None,
        }
    }

    fn file(id: &str, parent: &str, name: &str, contents: &'static [u8]) -> FileDoc {
        let now = clock::now();
        FileDoc {
            id: id.to_owned(),
            rev: String::new(),
            name: name.to_owned(),
            dir_id: parent.to_owned(),
            created_at: now,
            updated_at: now,
            mime: "text/plain".to_owned(),
            class: "text".to_owned(),
            executable: false,
            tags: Vec::new(),
            metadata: Map::new(),
            cozy_metadata: Value::Null,
            contents: Bytes::from_static(contents),
            md5: Vec::new(),
        }
    }

    #[test]
    fn tree_paths_and_conflicts() {
        let mut vfs = Vfs::new(None);
        let bills = vfs
            .create_dir(dir("d1", ROOT_DIR_ID, "bills"))
            .expect("created");
        assert_eq!(bills.path, "/bills");
        assert!(bills.rev.starts_with("1-"));
        let again = vfs.create_dir(dir("d2", ROOT_DIR_ID, "bills")).map(|_| ());
        assert_eq!(again.map_err(|e| e.status()), Err(409));
        let orphan = vfs.create_dir(dir("d3", "nope", "x")).map(|_| ());
        assert_eq!(orphan.map_err(|e| e.status()), Err(404));

        let stored = vfs
            .create_file(file("f1", "d1", "a.txt", b"hello"), None)
            .expect("created");
        assert_eq!(vfs.file_path(&stored), "/bills/a.txt");
        let clash = vfs
            .create_file(file("f2", "d1", "a.txt", b"x"), None)
            .map(|_| ());
        assert_eq!(clash.map_err(|e| e.status()), Err(409));
        let dir_clash = vfs.create_dir(dir("d4", "d1", "a.txt")).map(|_| ());
        assert_eq!(dir_clash.map_err(|e| e.status()), Err(409));
        let trashed = vfs
            .create_file(file("f3", TRASH_DIR_ID, "b.txt", b"x"), None)
            .map(|_| ());
        assert_eq!(trashed.map_err(|e| e.status()), Err(404));

        assert!(matches!(vfs.entry_at("/bills/a.txt"), Some(Entry::File(_))));
        assert!(matches!(vfs.entry_at("//bills/"), Some(Entry::Dir(_))));
        assert!(matches!(vfs.entry_at("/"), Some(Entry::Dir(_))));
        assert!(vfs.entry_at("/bills/b.txt").is_none());
        assert!(vfs.entry_at("bills").is_none());
    }

    #[test]
    fn quota_counts_stored_files() {
        let mut vfs = Vfs::new(Some(8));
        vfs.create_file(file("f1", ROOT_DIR_ID, "a", b"12345"), None)
            .expect("fits");
        assert_eq!(vfs.disk_usage(), 5);
        assert!(vfs.check_quota(3).is_ok());
        let over = vfs
            .create_file(file("f2", ROOT_DIR_ID, "b", b"1234"), None)
            .map(|_| ());
        assert_eq!(over.map_err(|e| e.status()), Err(413));
        vfs.set_quota_bytes(None);
        assert!(vfs.check_quota(1 << 40).is_ok());
    }

    #[test]
    fn paths_normalize() {
        assert_eq!(normalize_path("/a/./b/../c/"), Some("/a/c".to_owned()));
        assert_eq!(normalize_path("/"), Some("/".to_owned()));
        assert_eq!(normalize_path("/.."), None);
        assert_eq!(normalize_path("a/b"), None);
    }
}
