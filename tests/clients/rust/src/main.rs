//! The flow that tests/clients/test_official_clients.py asserts on, through the official Rust
//! client (crate clarifai_grpc): it prints one JSON object of what the server answered (codes,
//! ids, concept names). Settings come from CLARION_* environment variables, which the test sets.

use std::env;
use std::fs;
use std::sync::Arc;
use std::thread::sleep;
use std::time::{Duration, Instant};

use clarifai_grpc::clarifai_channel;
use clarifai_grpc::grpc::resources::{
    Annotation, App, Data, Image, Input, Key, Query, Rank, Search, UserAppIDSet,
};
use clarifai_grpc::grpc::service::{
    ListInputsRequest, MultiInputResponse, PostAppsRequest, PostInputsRequest,
    PostInputsSearchesRequest, PostKeysRequest, PostModelOutputsRequest,
};
use clarifai_grpc::grpc::service_grpc::V2Client;
use clarifai_grpc::grpc::status::Status;
use grpcio::{CallOption, Channel, ChannelBuilder, EnvBuilder, MetadataBuilder};
use protobuf::{ProtobufEnum, RepeatedField, SingularPtrField};
use serde_json::{json, Value};

const INPUT_PENDING: i32 = 30001;
const INPUT_IN_PROGRESS: i32 = 30003;

fn main() {
    let transport = setting("CLARION_TRANSPORT");
    let client = V2Client::new(channel_for(&transport));
    let pat = authorized(&setting("CLARION_PAT"));
    let app_id = setting("CLARION_APP_ID");

    let app = client
        .post_apps_opt(
            &PostAppsRequest {
                apps: RepeatedField::from(vec![App {
                    id: app_id.clone(),
                    ..Default::default()
                }]),
                ..Default::default()
            },
            pat.clone(),
        )
        .expect("PostApps");
    let app_ids = app.get_apps().iter().map(|a| a.id.clone()).collect();

    let key = client
        .post_keys_opt(
            &PostKeysRequest {
                user_app_id: SingularPtrField::some(UserAppIDSet {
                    user_id: "me".to_string(),
                    ..Default::default()
                }),
                keys: RepeatedField::from(vec![Key {
                    description: "rust client check".to_string(),
                    scopes: RepeatedField::from(vec!["All".to_string()]),
                    apps: RepeatedField::from(vec![App {
                        id: app_id.clone(),
                        user_id: "me".to_string(),
                        ..Default::default()
                    }]),
                    ..Default::default()
                }]),
                ..Default::default()
            },
            pat,
        )
        .expect("PostKeys");
    let app_key = authorized(&key.get_keys()[0].id);

    let posted = client
        .post_inputs_opt(
            &PostInputsRequest {
                inputs: RepeatedField::from(vec![
                    image_input("cat", bytes_image("CLARION_CAT_JPEG")),
                    image_input("coffee", bytes_image("CLARION_COFFEE_JPEG")),
                ]),
                ..Default::default()
            },
            app_key.clone(),
        )
        .expect("PostInputs");

    let listed = list_when_processed(&client, &app_key);
    let mut listing = with_ids(listed.get_status(), input_ids(&listed));
    listing["input_status_codes"] = listed
        .get_inputs()
        .iter()
        .map(|input| input.get_status().get_code().value())
        .collect();

    let by_bytes = predict(&client, &app_key, bytes_image("CLARION_CAT_JPEG"));
    let by_url = predict(
        &client,
        &app_key,
        Image {
            url: setting("CLARION_CAT_URL"),
            ..Default::default()
        },
    );

    let found = client
        .post_inputs_searches_opt(
            &PostInputsSearchesRequest {
                searches: RepeatedField::from(vec![Search {
                    query: SingularPtrField::some(Query {
                        ranks: RepeatedField::from(vec![Rank {
                            annotation: SingularPtrField::some(Annotation {
                                data: SingularPtrField::some(image_data(bytes_image(
                                    "CLARION_CAT_JPEG",
                                ))),
                                ..Default::default()
                            }),
                            ..Default::default()
                        }]),
                        ..Default::default()
                    }),
                    ..Default::default()
                }]),
                ..Default::default()
            },
            app_key,
        )
        .expect("PostInputsSearches");
    let mut search = with_ids(
        found.get_status(),
        found
            .get_hits()
            .iter()
            .map(|hit| hit.get_input().id.clone())
            .collect(),
    );
    search["top_score"] = json!(found.get_hits().first().map_or(-1.0, |hit| hit.score));

    let bad_key = client
        .list_inputs_opt(&ListInputsRequest::default(), authorized("not-a-real-key"))
        .expect("ListInputs with a bad key");

    let result = json!({
        "transport": transport,
        "post_apps": with_ids(app.get_status(), app_ids),
        "post_keys": status(key.get_status()),
        "post_inputs": with_ids(posted.get_status(), input_ids(&posted)),
        "list_inputs": listing,
        "predict_bytes": by_bytes,
        "predict_url": by_url,
        "search": search,
        "bad_key": status(bad_key.get_status()),
    });
    println!("{}", result);
}

/// "tls" is the client's own channel, clarifai_channel::grpc(): TLS to CLARIFAI_GRPC_BASE,
/// verified against gRPC's roots (GRPC_DEFAULT_SSL_ROOTS_FILE_PATH). The client offers no
/// plaintext channel, but its V2Client takes any grpcio channel: "grpc" is grpcio's insecure one.
fn channel_for(transport: &str) -> Channel {
    match transport {
        "tls" => clarifai_channel::grpc(),
        "grpc" => {
            let address = format!(
                "{}:{}",
                setting("CLARION_GRPC_HOST"),
                setting("CLARION_GRPC_PORT")
            );
            ChannelBuilder::new(Arc::new(EnvBuilder::new().build())).connect(&address)
        }
        other => panic!("CLARION_TRANSPORT: tls or grpc, not {}", other),
    }
}

fn authorized(token: &str) -> CallOption {
    let mut builder = MetadataBuilder::with_capacity(1);
    builder
        .add_str("authorization", &format!("Key {}", token))
        .expect("metadata");
    CallOption::default().headers(builder.build())
}

/// Inputs are fetched and indexed in the background: poll as the Clarifai docs do.
fn list_when_processed(client: &V2Client, key: &CallOption) -> MultiInputResponse {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let listed = client
            .list_inputs_opt(&ListInputsRequest::default(), key.clone())
            .expect("ListInputs");
        let waiting = listed.get_inputs().iter().any(|input| {
            let code = input.get_status().get_code().value();
            code == INPUT_PENDING || code == INPUT_IN_PROGRESS
        });
        if !waiting || Instant::now() > deadline {
            return listed;
        }
        sleep(Duration::from_millis(100));
    }
}

fn predict(client: &V2Client, key: &CallOption, image: Image) -> Value {
    let response = client
        .post_model_outputs_opt(
            &PostModelOutputsRequest {
                user_app_id: SingularPtrField::some(UserAppIDSet {
                    user_id: "clarifai".to_string(),
                    app_id: "main".to_string(),
                    ..Default::default()
                }),
                model_id: "general-image-recognition".to_string(),
                inputs: RepeatedField::from(vec![Input {
                    data: SingularPtrField::some(image_data(image)),
                    ..Default::default()
                }]),
                ..Default::default()
            },
            key.clone(),
        )
        .expect("PostModelOutputs");
    let concepts: Vec<String> = response
        .get_outputs()
        .first()
        .map(|output| {
            output
                .get_data()
                .get_concepts()
                .iter()
                .take(5)
                .map(|concept| concept.name.clone())
                .collect()
        })
        .unwrap_or_default();
    let mut result = status(response.get_status());
    result["concepts"] = json!(concepts);
    result
}

fn bytes_image(variable: &str) -> Image {
    Image {
        base64: fs::read(setting(variable)).expect("read the photo"),
        ..Default::default()
    }
}

fn image_data(image: Image) -> Data {
    Data {
        image: SingularPtrField::some(image),
        ..Default::default()
    }
}

fn image_input(id: &str, image: Image) -> Input {
    Input {
        id: id.to_string(),
        data: SingularPtrField::some(image_data(image)),
        ..Default::default()
    }
}

fn input_ids(response: &MultiInputResponse) -> Vec<String> {
    response
        .get_inputs()
        .iter()
        .map(|input| input.id.clone())
        .collect()
}

fn status(status: &Status) -> Value {
    json!({"code": status.get_code().value(), "description": status.description})
}

fn with_ids(status_: &Status, ids: Vec<String>) -> Value {
    let mut result = status(status_);
    result["ids"] = json!(ids);
    result
}

fn setting(name: &str) -> String {
    match env::var(name) {
        Ok(value) if !value.is_empty() => value,
        _ => panic!("{} is not set", name),
    }
}
