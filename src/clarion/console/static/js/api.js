// Talking to Clarion's public HTTP+JSON API, as any client would: `Authorization: Key <PAT>`.
// The PAT lives in this tab's sessionStorage only; it never goes into a URL.

const PAT_KEY = "clarion.console.pat";
const USER_KEY = "clarion.console.user";
export const OK = 10000;
export const MIXED = 10010;
// The credential itself was refused: unknown, malformed, deleted or expired.
const CREDENTIAL_REFUSED = new Set([11001, 11002, 11008, 11009]);

// Where the server is mounted: the console lives at <base>/console/, the API at <base>/v2/.
export const BASE = (() => {
  const at = location.pathname.lastIndexOf("/console/");
  return at >= 0 ? location.pathname.slice(0, at) : "";
})();

export class ApiError extends Error {
  constructor(status, httpStatus = 0, body = null) {
    super(status.description || `The server answered status ${status.code}`);
    this.code = status.code;
    this.details = status.details || "";
    this.reqId = status.req_id || "";
    this.httpStatus = httpStatus;
    this.body = body;
  }

  get credentialRefused() {
    return CREDENTIAL_REFUSED.has(this.code);
  }
}

export const session = {
  get pat() {
    return sessionStorage.getItem(PAT_KEY) || "";
  },
  get userId() {
    return sessionStorage.getItem(USER_KEY) || "";
  },
  save(pat, userId) {
    sessionStorage.setItem(PAT_KEY, pat);
    sessionStorage.setItem(USER_KEY, userId);
  },
  clear() {
    sessionStorage.removeItem(PAT_KEY);
    sessionStorage.removeItem(USER_KEY);
  },
};

let credentialLost = () => {};
// Called once a request made with the session's PAT is refused (deleted or expired).
export function onCredentialLost(handler) {
  credentialLost = handler;
}

function headers(pat, hasBody) {
  const result = { Authorization: `Key ${pat}` };
  if (hasBody) result["Content-Type"] = "application/json";
  return result;
}

function checked(json, httpStatus, okCodes, ownPat) {
  const status = (json && json.status) || { code: 0, description: "The answer has no status" };
  if (okCodes.includes(status.code)) return json;
  const error = new ApiError(status, httpStatus, json);
  if (error.credentialRefused && ownPat) credentialLost(error);
  throw error;
}

// One API call. `pat` overrides the session's (signing in); `ok` lists the accepted codes.
export async function call(method, path, body = undefined, { pat, ok = [OK] } = {}) {
  const token = pat ?? session.pat;
  let response;
  try {
    response = await fetch(BASE + path, {
      method,
      headers: headers(token, body !== undefined),
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit",
      cache: "no-store",
    });
  } catch (err) {
    throw new ApiError({ code: 0, description: `Cannot reach the Clarion server (${err.message})` });
  }
  let json = null;
  try {
    json = await response.json();
  } catch {
    throw new ApiError(
      { code: 0, description: `The server answered HTTP ${response.status} without JSON` },
      response.status,
    );
  }
  return checked(json, response.status, ok, pat === undefined);
}

// A POST whose upload progress is reported: `onProgress(sentBytes, totalBytes)`.
export function postWithProgress(path, body, onProgress, { ok = [OK, MIXED] } = {}) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", BASE + path);
    for (const [name, value] of Object.entries(headers(session.pat, true))) {
      xhr.setRequestHeader(name, value);
    }
    xhr.upload.onprogress = (event) => onProgress(event.loaded, event.total);
    xhr.onerror = () =>
      reject(new ApiError({ code: 0, description: "The upload failed: no answer from the server" }));
    xhr.onload = () => {
      let json = null;
      try {
        json = JSON.parse(xhr.responseText);
      } catch {
        reject(
          new ApiError(
            { code: 0, description: `The server answered HTTP ${xhr.status} without JSON` },
            xhr.status,
          ),
        );
        return;
      }
      try {
        resolve(checked(json, xhr.status, ok, true));
      } catch (err) {
        reject(err);
      }
    };
    xhr.send(JSON.stringify(body));
  });
}

// The bytes behind an input's hosted image, fetched with the PAT (an <img> cannot send it).
export async function hostedBlob(userId, appId, inputId, size) {
  const path = `/hosted/${size}/users/${enc(userId)}/apps/${enc(appId)}/inputs/${enc(inputId)}`;
  const response = await fetch(BASE + path, {
    headers: headers(session.pat, false),
    credentials: "omit",
  });
  if (!response.ok) {
    let status = { code: 0, description: `HTTP ${response.status}` };
    try {
      status = (await response.json()).status || status;
    } catch {
      // not JSON: keep the HTTP status
    }
    const error = new ApiError(status, response.status);
    if (error.credentialRefused) credentialLost(error);
    throw error;
  }
  return response.blob();
}

export function enc(part) {
  return encodeURIComponent(part);
}

// Paths under the signed-in user.
export function userPath(rest = "") {
  return `/v2/users/${enc(session.userId)}${rest}`;
}

export function appPath(appId, rest = "") {
  return userPath(`/apps/${enc(appId)}${rest}`);
}
