package clarion.clients;

import com.clarifai.channel.ClarifaiChannel;
import com.clarifai.channel.http.ClarifaiHttpClient;
import com.clarifai.credentials.ClarifaiCallCredentials;
import com.clarifai.grpc.api.Annotation;
import com.clarifai.grpc.api.App;
import com.clarifai.grpc.api.Concept;
import com.clarifai.grpc.api.Data;
import com.clarifai.grpc.api.Image;
import com.clarifai.grpc.api.Input;
import com.clarifai.grpc.api.Key;
import com.clarifai.grpc.api.ListInputsRequest;
import com.clarifai.grpc.api.MultiAppResponse;
import com.clarifai.grpc.api.MultiInputResponse;
import com.clarifai.grpc.api.MultiKeyResponse;
import com.clarifai.grpc.api.MultiOutputResponse;
import com.clarifai.grpc.api.MultiSearchResponse;
import com.clarifai.grpc.api.PostAppsRequest;
import com.clarifai.grpc.api.PostInputsRequest;
import com.clarifai.grpc.api.PostInputsSearchesRequest;
import com.clarifai.grpc.api.PostKeysRequest;
import com.clarifai.grpc.api.PostModelOutputsRequest;
import com.clarifai.grpc.api.Query;
import com.clarifai.grpc.api.Rank;
import com.clarifai.grpc.api.Search;
import com.clarifai.grpc.api.UserAppIDSet;
import com.clarifai.grpc.api.V2Grpc;
import com.clarifai.grpc.api.V2Grpc.V2BlockingStub;
import com.clarifai.grpc.api.status.Status;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.protobuf.ByteString;
import io.grpc.Channel;
import io.grpc.ManagedChannel;
import io.grpc.netty.shaded.io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * The flow that tests/clients/test_official_clients.py asserts on, through the official Java
 * client: it prints one JSON object of what the server answered (codes, ids, concept names).
 * Settings come from CLARION_* environment variables, which the test sets.
 */
public final class ClientCheck {
  private static final int INPUT_DOWNLOAD_SUCCESS = 30000;
  private static final int INPUT_PENDING = 30001;
  private static final int INPUT_IN_PROGRESS = 30003;

  private ClientCheck() {}

  public static void main(String[] args) throws Exception {
    String transport = env("CLARION_TRANSPORT");
    Channel channel = channelFor(transport);
    V2BlockingStub pat = V2Grpc.newBlockingStub(channel)
        .withCallCredentials(new ClarifaiCallCredentials(env("CLARION_PAT")));
    JsonObject result = new JsonObject();
    result.addProperty("transport", transport);
    String appId = env("CLARION_APP_ID");

    MultiAppResponse app = pat.postApps(
        PostAppsRequest.newBuilder().addApps(App.newBuilder().setId(appId)).build());
    result.add("post_apps", withIds(app.getStatus(), app.getAppsList().stream().map(App::getId).toList()));

    // No user_app_id: the client's JSON channel throws a NullPointerException on one that has a
    // user_id but no app_id (JsonEndpoint.readAppIdAndUserId); the PAT names the user anyway.
    MultiKeyResponse key = pat.postKeys(PostKeysRequest.newBuilder()
        .addKeys(Key.newBuilder().setDescription("java client check").addScopes("All")
            .addApps(App.newBuilder().setId(appId).setUserId("me")))
        .build());
    result.add("post_keys", status(key.getStatus()));
    V2BlockingStub appKey = V2Grpc.newBlockingStub(channel)
        .withCallCredentials(new ClarifaiCallCredentials(key.getKeys(0).getId()));

    MultiInputResponse posted = appKey.postInputs(PostInputsRequest.newBuilder()
        .addInputs(imageInput("cat", env("CLARION_CAT_JPEG")))
        .addInputs(imageInput("coffee", env("CLARION_COFFEE_JPEG")))
        .build());
    result.add("post_inputs", withIds(posted.getStatus(), inputIds(posted)));

    MultiInputResponse listed = listWhenProcessed(appKey);
    JsonObject listing = withIds(listed.getStatus(), inputIds(listed));
    JsonArray inputCodes = new JsonArray();
    listed.getInputsList().forEach(input -> inputCodes.add(input.getStatus().getCode().getNumber()));
    listing.add("input_status_codes", inputCodes);
    result.add("list_inputs", listing);

    Data catBytes = Data.newBuilder().setImage(Image.newBuilder().setBase64(bytes("CLARION_CAT_JPEG"))).build();
    Data catUrl = Data.newBuilder().setImage(Image.newBuilder().setUrl(env("CLARION_CAT_URL"))).build();
    result.add("predict_bytes", predict(appKey, catBytes));
    result.add("predict_url", predict(appKey, catUrl));

    MultiSearchResponse found = appKey.postInputsSearches(PostInputsSearchesRequest.newBuilder()
        .addSearches(Search.newBuilder().setQuery(Query.newBuilder()
            .addRanks(Rank.newBuilder().setAnnotation(Annotation.newBuilder().setData(catBytes)))))
        .build());
    JsonObject search = withIds(found.getStatus(),
        found.getHitsList().stream().map(hit -> hit.getInput().getId()).toList());
    search.addProperty("top_score", found.getHitsCount() > 0 ? found.getHits(0).getScore() : -1);
    result.add("search", search);

    V2BlockingStub badKey = V2Grpc.newBlockingStub(channel)
        .withCallCredentials(new ClarifaiCallCredentials("not-a-real-key"));
    result.add("bad_key", status(badKey.listInputs(ListInputsRequest.newBuilder().build()).getStatus()));

    System.out.println(result);
    if (channel instanceof ManagedChannel managed) {
      managed.shutdownNow();
    }
  }

  /**
   * gRPC in plaintext or over TLS, or the client's own HTTP+JSON channel. ClarifaiChannel's gRPC
   * helpers are fixed to api.clarifai.com's ports (443 trusting any certificate, or 18080), so a
   * Java user points a Netty channel of their own at Clarion; the V2 stub takes any channel.
   */
  private static Channel channelFor(String transport) throws IOException {
    return switch (transport) {
      case "grpc" -> NettyChannelBuilder.forAddress(env("CLARION_GRPC_HOST"), port())
          .usePlaintext()
          .maxInboundMessageSize(ClarifaiChannel.MAX_MESSAGE_LENGTH)
          .build();
      case "tls" -> NettyChannelBuilder.forAddress(env("CLARION_GRPC_HOST"), port())
          .sslContext(GrpcSslContexts.forClient().trustManager(new File(env("CLARION_CA_FILE"))).build())
          .maxInboundMessageSize(ClarifaiChannel.MAX_MESSAGE_LENGTH)
          .build();
      case "json" -> ClarifaiChannel.INSTANCE.getJsonChannel(
          new ClarifaiHttpClient.Default(env("CLARION_HTTP_URL")));
      default -> throw new IllegalArgumentException("CLARION_TRANSPORT: grpc, tls or json, not " + transport);
    };
  }

  /** Inputs are fetched and indexed in the background: poll as the Clarifai docs do. */
  private static MultiInputResponse listWhenProcessed(V2BlockingStub stub) throws InterruptedException {
    long deadline = System.nanoTime() + 120_000_000_000L;
    while (true) {
      MultiInputResponse listed = stub.listInputs(ListInputsRequest.newBuilder().build());
      boolean waiting = listed.getInputsList().stream().anyMatch(input -> {
        int code = input.getStatus().getCode().getNumber();
        return code == INPUT_PENDING || code == INPUT_IN_PROGRESS;
      });
      if (!waiting || System.nanoTime() > deadline) {
        return listed;
      }
      Thread.sleep(100);
    }
  }

  private static JsonObject predict(V2BlockingStub stub, Data data) {
    MultiOutputResponse response = stub.postModelOutputs(PostModelOutputsRequest.newBuilder()
        .setUserAppId(UserAppIDSet.newBuilder().setUserId("clarifai").setAppId("main"))
        .setModelId("general-image-recognition")
        .addInputs(Input.newBuilder().setData(data))
        .build());
    List<String> names = response.getOutputsCount() == 0 ? List.of()
        : response.getOutputs(0).getData().getConceptsList().stream().limit(5).map(Concept::getName).toList();
    JsonObject result = status(response.getStatus());
    JsonArray concepts = new JsonArray();
    names.forEach(concepts::add);
    result.add("concepts", concepts);
    return result;
  }

  private static Input imageInput(String id, String path) throws IOException {
    ByteString content = ByteString.copyFrom(Files.readAllBytes(Path.of(path)));
    return Input.newBuilder().setId(id)
        .setData(Data.newBuilder().setImage(Image.newBuilder().setBase64(content))).build();
  }

  private static ByteString bytes(String variable) throws IOException {
    return ByteString.copyFrom(Files.readAllBytes(Path.of(env(variable))));
  }

  private static List<String> inputIds(MultiInputResponse response) {
    return response.getInputsList().stream().map(Input::getId).toList();
  }

  private static JsonObject status(Status status) {
    JsonObject result = new JsonObject();
    result.addProperty("code", status.getCode().getNumber());
    result.addProperty("description", status.getDescription());
    return result;
  }

  private static JsonObject withIds(Status status, List<String> ids) {
    JsonObject result = status(status);
    JsonArray array = new JsonArray();
    ids.forEach(array::add);
    result.add("ids", array);
    return result;
  }

  private static int port() {
    return Integer.parseInt(env("CLARION_GRPC_PORT"));
  }

  private static String env(String name) {
    String value = System.getenv(name);
    if (value == null || value.isEmpty()) {
      throw new IllegalStateException(name + " is not set");
    }
    return value;
  }
}
