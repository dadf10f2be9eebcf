//! Step 6's push the procedure's way: "use a UCP client bundle to run docker
//! commands in the UCP cluster", then tag and push with no `docker login`.
//!
//! dtrplay is the bundle's docker client here: it speaks the Docker API to
//! UCP with the bundle's certificate (`api/docker.rs`), UCP forwards the
//! calls to an engine of the cluster and gives that engine the registry
//! credentials (or does not, which is what a broken integration looks like),
//! and the engine's own output comes back. The bundle is the inventory's
//! `ucp_client_bundle` directory when there is one, else a fresh bundle
//! downloaded from UCP with the UCP credentials (held in memory only: it
//! holds a private key).
//!
//! The push runs once per run, however many hosts run `push-test`: the
//! first host to get here pushes, the others wait for and share its result
//! (in the run's memory, `RunMemory`, so the next run pushes again).

use std::io::Read;

use crate::api::contract::{UcpAccess, UcpAuth};
use crate::api::docker::{DockerApi, Progress};
use crate::api::tls::ClientIdentity;
use crate::run_memory::RunMemory;

/// What the push through UCP printed, and how it ended.
#[derive(Debug, Clone)]
pub struct BundlePush {
    /// pull (when the image was missing), tag and push output, as the
    /// docker CLI prints it.
    pub output: String,
    /// The error that stopped it, in the engine's (or UCP's) words.
    pub error: Option<String>,
}

/// Pushes `image` as `<repository>:<tag>` through UCP, once per run.
pub async fn push_once(
    memory: &RunMemory,
    ucp: &UcpAccess,
    image: &str,
    repository: &str,
    tag: &str,
) -> Result<BundlePush, String> {
    let key = format!("{} {image} {repository}:{tag}", ucp.url);
    memory
        .once("push through UCP", &key, || {
            push(ucp, image, repository, tag)
        })
        .await
        .0
}

async fn push(
    ucp: &UcpAccess,
    image: &str,
    repository: &str,
    tag: &str,
) -> Result<BundlePush, String> {
    let identity = identity(ucp).await?;
    let docker = DockerApi::connect(&ucp.url, &ucp.trust, &identity)
        .await
        .map_err(|e| e.to_string())?;
    let source = if image
        .rsplit('/')
        .next()
        .is_some_and(|last| last.contains(':'))
    {
        image.to_string()
    } else {
        format!("{image}:latest")
    };
    let mut output = String::new();
    // The procedure pulls hello-world from Docker Hub; an image the
    // cluster already has is used as it is.
    if !docker.has_image(&source).await.map_err(|e| e.to_string())? {
        let pulled = docker.pull(&source).await.map_err(|e| e.to_string())?;
        if let Some(error) = record(pulled, &mut output) {
            return Ok(BundlePush {
                output,
                error: Some(error),
            });
        }
    }
    let tagged = docker
        .tag(&source, repository, tag)
        .await
        .map_err(|e| e.to_string())?;
    if let Some(error) = record(tagged, &mut output) {
        return Ok(BundlePush {
            output,
            error: Some(error),
        });
    }
    let pushed = docker
        .push(repository, tag)
        .await
        .map_err(|e| e.to_string())?;
    let error = record(pushed, &mut output);
    Ok(BundlePush { output, error })
}

/// Appends a step's output; returns its error.
fn record(progress: Progress, output: &mut String) -> Option<String> {
    output.push_str(&progress.text);
    progress.error
}

/// The bundle's identity: the inventory's bundle directory, or a bundle
/// downloaded with the UCP credentials.
async fn identity(ucp: &UcpAccess) -> Result<ClientIdentity, String> {
    match &ucp.auth {
        UcpAuth::Bundle(identity) => Ok(identity.clone()),
        UcpAuth::Password { .. } => {
            let client = ucp.connect().await.map_err(|e| e.to_string())?;
            let zip = client.client_bundle().await.map_err(|e| e.to_string())?;
            identity_from_zip(&zip)
        }
    }
}

/// `cert.pem` and `key.pem` of a client bundle zip.
pub fn identity_from_zip(bytes: &[u8]) -> Result<ClientIdentity, String> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| format!("the client bundle UCP sent is not a zip file: {e}"))?;
    let mut read = |name: &str| -> Result<String, String> {
        let mut file = archive.by_name(name).map_err(|e| {
            format!("the client bundle UCP sent has no usable {name} ({e}); unzip a bundle and set ucp_client_bundle to its directory")
        })?;
        let mut text = String::new();
        file.by_ref()
            .take(1024 * 1024)
            .read_to_string(&mut text)
            .map_err(|e| format!("cannot read {name} of the client bundle: {e}"))?;
        Ok(text)
    };
    let cert = read("cert.pem")?;
    let key = read("key.pem")?;
    Ok(ClientIdentity::from_pem(&cert, &key))
}
