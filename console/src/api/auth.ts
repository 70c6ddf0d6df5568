import { request } from "./request";
import type { TokenResponse } from "./types";

/** POST /api/v1/auth/token (OAuth2 password grant). */
export function passwordToken(username: string, password: string): Promise<TokenResponse> {
  return request<TokenResponse>("/api/v1/auth/token", {
    method: "POST",
    form: { grant_type: "password", username, password },
    anonymous: true,
    silent: true,
  });
}

/** The refresh grant; each refresh token is single use and the answer carries the next one. */
export function refreshToken(token: string): Promise<TokenResponse> {
  return request<TokenResponse>("/api/v1/auth/token", {
    method: "POST",
    form: { grant_type: "refresh_token", refresh_token: token },
    anonymous: true,
    silent: true,
  });
}

export function revokeToken(token: string): Promise<void> {
  return request<void>("/api/v1/auth/revoke", {
    method: "POST",
    form: { token },
    anonymous: true,
    silent: true,
  });
}
