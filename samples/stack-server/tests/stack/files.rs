//! Files: folders, uploads, conflicts, quota, MD5, metadata, downloads.

use reqwest::header::{CONTENT_DISPOSITION, CONTENT_TYPE, IF_MATCH};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use stack_server::{ROOT_DIR_ID, StackConfig};

use crate::client::{Fixture, SLUG, status_and_json};

/// The base64 MD5 of `Hello world!`.
const HELLO_MD5: &str = "hvsmnRkNLIX24EaM7KQqIA==";

async fn create_dir(fixture: &Fixture, parent: &str, name: &str) -> (StatusCode, Value) {
    let path = format!("/files/{parent}?Type=directory&Name={name}");
    let response = fixture.request(Method::POST, &path).send().await;
    status_and_json(response.expect("POST")).await
}

async fn upload(
    fixture: &Fixture,
    dir_id: &str,
    query: &str,
    body: &'static [u8],
    md5: Option<&str>,
) -> (StatusCode, Value) {
    let path = format!("/files/{dir_id}?Type=file&{query}");
    let mut request = fixture
        .request(Method::POST, &path)
        .header(CONTENT_TYPE, "text/plain")
        .body(body);
    if let Some(md5) = md5 {
        request = request.header("Content-MD5", md5);
    }
    status_and_json(request.send().await.expect("POST")).await
}

fn error_status(body: &Value) -> &str {
    body["errors"][0]["status"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn folders_and_duplicates() {
    let fixture = Fixture::start().await;

    let (status, created) = create_dir(&fixture, ROOT_DIR_ID, "Administrative").await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let data = &created["data"];
    assert_eq!(data["type"], "io.cozy.files");
    assert_eq!(data["attributes"]["type"], "directory");
    assert_eq!(data["attributes"]["name"], "Administrative");
    assert_eq!(data["attributes"]["path"], "/Administrative");
    assert_eq!(data["attributes"]["dir_id"], ROOT_DIR_ID);
    assert_eq!(data["attributes"]["cozyMetadata"]["createdByApp"], SLUG);
    assert!(
        data["meta"]["rev"]
            .as_str()
            .is_some_and(|rev| rev.starts_with("1-"))
    );
    let admin_id = data["id"].as_str().expect("id").to_owned();

    let (status, nested) = create_dir(&fixture, &admin_id, "Vendor").await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        nested["data"]["attributes"]["path"],
        "/Administrative/Vendor"
    );

    let (status, duplicate) = create_dir(&fixture, ROOT_DIR_ID, "Administrative").await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(duplicate["errors"][0]["title"], "Conflict");
    assert_eq!(duplicate["errors"][0]["detail"], "file already exists");

    let (status, _) = create_dir(&fixture, "no-such-dir", "x").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, invalid) = create_dir(&fixture, ROOT_DIR_ID, "..").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(invalid["errors"][0]["source"]["parameter"], "name");

    let recursive = fixture
        .request(
            Method::POST,
            "/files/?Type=directory&Path=/Administrative/Vendor/2024&Recursive=true",
        )
        .send()
        .await
        .expect("POST");
    let (status, deep) = status_and_json(recursive).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        deep["data"]["attributes"]["path"],
        "/Administrative/Vendor/2024"
    );

    let paths: Vec<String> = fixture
        .server
        .folders()
        .into_iter()
        .map(|folder| folder.path)
        .collect();
    let expected = [
        "/",
        "/.cozy_trash",
        "/Administrative",
        "/Administrative/Vendor",
        "/Administrative/Vendor/2024",
    ];
    assert_eq!(paths, expected);

    let (status, by_path) = fixture
        .get_json("/files/metadata?Path=/Administrative/Vendor")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(by_path["data"]["id"], nested["data"]["id"]);
    let contents = &by_path["data"]["relationships"]["contents"]["data"];
    assert_eq!(contents.as_array().map(Vec::len), Some(1));
    assert_eq!(by_path["included"][0]["attributes"]["name"], "2024");

    let (status, missing) = fixture.get_json("/files/metadata?Path=/Nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error_status(&missing), "404");

    fixture.server.shutdown().await;
}

#[tokio::test]
async fn upload_read_download_replace() {
    let fixture = Fixture::start().await;
    let (_, folder) = create_dir(&fixture, ROOT_DIR_ID, "Bills").await;
    let folder_id = folder["data"]["id"].as_str().expect("id").to_owned();

    let query = "Name=hello.txt&SourceAccount=account-1&SourceAccountIdentifier=me&Metadata=%7B%22qualification%22%3A%7B%22label%22%3A%22bill%22%7D%7D";
    let (status, created) = upload(
        &fixture,
        &folder_id,
        query,
        b"Hello world!",
        Some(HELLO_MD5),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let attributes = &created["data"]["attributes"];
    assert_eq!(attributes["type"], "file");
    assert_eq!(attributes["name"], "hello.txt");
    assert_eq!(attributes["dir_id"], folder_id.as_str());
    assert_eq!(attributes["size"], "12");
    assert_eq!(attributes["md5sum"], HELLO_MD5);
    assert_eq!(attributes["mime"], "text/plain");
    assert_eq!(attributes["class"], "text");
    assert_eq!(attributes["metadata"]["qualification"]["label"], "bill");
    let cozy_metadata = &attributes["cozyMetadata"];
    assert_eq!(cozy_metadata["uploadedBy"]["slug"], SLUG);
    assert_eq!(cozy_metadata["sourceAccount"], "account-1");
    assert_eq!(cozy_metadata["sourceAccountIdentifier"], "me");
    assert_eq!(cozy_metadata["createdOn"], fixture.server.url());
    let file_id = created["data"]["id"].as_str().expect("id").to_owned();
    let rev = created["data"]["meta"]["rev"]
        .as_str()
        .expect("rev")
        .to_owned();

    let (status, read) = fixture.get_json(&format!("/files/{file_id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(read["data"]["attributes"], *attributes);

    let download = fixture
        .request(Method::GET, &format!("/files/download/{file_id}"))
        .send()
        .await
        .expect("GET");
    assert_eq!(download.status(), StatusCode::OK);
    assert_eq!(download.headers()[CONTENT_TYPE], "text/plain");
    assert_eq!(
        download.headers()[CONTENT_DISPOSITION],
        "inline; filename=\"hello.txt\""
    );
    assert_eq!(&download.bytes().await.expect("body")[..], b"Hello world!");

    // A stale If-Match is refused, the current one accepted.
    let replace = |if_match: &str| {
        fixture
            .request(Method::PUT, &format!("/files/{file_id}"))
            .header(CONTENT_TYPE, "text/plain")
            .header(IF_MATCH, if_match)
            .body(&b"HELLO WORLD!"[..])
            .send()
    };
    let (status, stale) = status_and_json(replace("1-0").await.expect("PUT")).await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(stale["errors"][0]["detail"], "Revision does not match");
    let (status, replaced) = status_and_json(replace(&rev).await.expect("PUT")).await;
    assert_eq!(status, StatusCode::OK, "{replaced}");
    let new_rev = replaced["data"]["meta"]["rev"].as_str().unwrap_or_default();
    assert!(new_rev.starts_with("2-"), "{new_rev}");
    assert_eq!(replaced["data"]["id"], file_id.as_str());

    let stored = fixture.server.file_at("/Bills/hello.txt").expect("stored");
    assert_eq!(stored.contents, b"HELLO WORLD!");
    assert_eq!(stored.rev, new_rev);
    // As in the stack, a PUT without metadata drops it.
    assert!(stored.metadata.is_empty());
    assert_eq!(stored.cozy_metadata["sourceAccount"], "account-1");
    assert_eq!(fixture.server.disk_usage_bytes(), 12);

    let (status, _) = fixture.get_json("/files/download/no-such-file").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    fixture.server.shutdown().await;
}

#[tokio::test]
async fn duplicate_name_is_409() {
    let fixture = Fixture::start().await;

    let (status, _) = upload(&fixture, ROOT_DIR_ID, "Name=a.txt", b"one", None).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, conflict) = upload(&fixture, ROOT_DIR_ID, "Name=a.txt", b"two", None).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(error_status(&conflict), "409");
    let (status, _) = create_dir(&fixture, ROOT_DIR_ID, "a.txt").await;
    assert_eq!(status, StatusCode::CONFLICT);

    let files = fixture.server.files();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].contents, b"one");

    fixture.server.shutdown().await;
}

#[tokio::test]
async fn bad_md5_is_412_and_malformed_422() {
    let fixture = Fixture::start().await;

    let (status, mismatch) = upload(
        &fixture,
        ROOT_DIR_ID,
        "Name=a.txt",
        b"Hello world?",
        Some(HELLO_MD5),
    )
    .await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(mismatch["errors"][0]["detail"], "Invalid hash");
    assert_eq!(mismatch["errors"][0]["source"]["parameter"], "Content-MD5");

    let (status, malformed) =
        upload(&fixture, ROOT_DIR_ID, "Name=a.txt", b"x", Some("not-md5")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(malformed["errors"][0]["title"], "Invalid Parameter");

    assert!(fixture.server.files().is_empty());
    fixture.server.shutdown().await;
}

#[tokio::test]
async fn quota_exceeded_is_413() {
    let config = StackConfig {
        quota_bytes: Some(20),
        ..StackConfig::default()
    };
    let fixture = Fixture::start_with(config).await;

    let (status, _) = upload(&fixture, ROOT_DIR_ID, "Name=a.txt", b"Hello world!", None).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, full) = upload(&fixture, ROOT_DIR_ID, "Name=b.txt", b"Hello world!", None).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(full["errors"][0]["title"], "Request Entity Too Large");
    assert_eq!(
        full["errors"][0]["detail"],
        "The file is too big and exceeds the disk quota"
    );

    // The quota is checked before the name, as in the stack.
    let (status, _) = upload(&fixture, ROOT_DIR_ID, "Name=a.txt", b"Hello world!", None).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);

    fixture.server.set_quota_bytes(None);
    let (status, _) = upload(&fixture, ROOT_DIR_ID, "Name=b.txt", b"Hello world!", None).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(fixture.server.disk_usage_bytes(), 24);

    fixture.server.shutdown().await;
}

#[tokio::test]
async fn metadata_id_and_guessed_mime() {
    let fixture = Fixture::start().await;

    let document = json!({
        "data": {
            "type": "io.cozy.files.metadata",
            "attributes": {"qualification": {"label": "energy_invoice"}, "datetime": "2024-01-05"},
        }
    });
    let (status, created) = fixture
        .send_json(Method::POST, "/files/upload/metadata", &document)
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let metadata_id = created["data"]["id"].as_str().expect("id").to_owned();
    assert_eq!(created["data"]["attributes"]["datetime"], "2024-01-05");

    let path = format!("/files/{ROOT_DIR_ID}?Type=file&Name=bill.pdf&MetadataID={metadata_id}");
    let response = fixture
        .request(Method::POST, &path)
        .body(&b"%PDF-1.4"[..])
        .send()
        .await
        .expect("POST");
    let (status, file) = status_and_json(response).await;
    assert_eq!(status, StatusCode::CREATED, "{file}");
    let attributes = &file["data"]["attributes"];
    assert_eq!(attributes["mime"], "application/pdf");
    assert_eq!(attributes["class"], "pdf");
    assert_eq!(
        attributes["metadata"]["qualification"]["label"],
        "energy_invoice"
    );

    let path = format!("/files/{ROOT_DIR_ID}?Type=file&Name=other.pdf&MetadataID=UNKNOWN");
    let response = fixture.request(Method::POST, &path).body("x").send().await;
    let (status, error) = status_and_json(response.expect("POST")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        error["errors"][0]["detail"],
        "Invalid or expired MetadataID"
    );

    let path = format!("/files/{ROOT_DIR_ID}?Type=image&Name=x");
    let response = fixture.request(Method::POST, &path).body("x").send().await;
    assert_eq!(
        response.expect("POST").status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );

    fixture.server.shutdown().await;
}
