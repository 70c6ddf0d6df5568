// The sign-in: tokens in sessionStorage (gone with the tab), the person's roles and areas read
// from the access token, and a refresh scheduled before the access token expires.
import { defineStore } from "pinia";
import { computed, ref } from "vue";
import { passwordToken, refreshToken, revokeToken } from "@/api/auth";
import { useSession } from "@/api/request";
import type { TokenResponse } from "@/api/types";
import router from "@/router";

interface Claims {
  sub: string;
  roles: string[];
  areas: string[];
  depts: string[];
  name?: string;
  exp: number;
}

const KEY = "gridgov.session";

function decode(token: string): Claims {
  const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
  const bytes = Uint8Array.from(atob(part), (c) => c.charCodeAt(0));
  return JSON.parse(new TextDecoder().decode(bytes)) as Claims;
}

export const useAuthStore = defineStore("auth", () => {
  const access = ref<string | null>(null);
  const refresh = ref<string | null>(null);
  const expiresAt = ref(0);
  let timer: ReturnType<typeof setTimeout> | undefined;

  const claims = computed(() => (access.value ? decode(access.value) : null));
  const roles = computed(() => claims.value?.roles ?? []);
  const displayName = computed(() => claims.value?.name ?? "");
  /** the area paths the person works over (empty for a city-wide admin) */
  const areas = computed(() => claims.value?.areas ?? []);
  const signedIn = computed(() => access.value !== null);

  function save(): void {
    sessionStorage.setItem(
      KEY,
      JSON.stringify({ access: access.value, refresh: refresh.value, expiresAt: expiresAt.value }),
    );
  }

  function schedule(): void {
    clearTimeout(timer);
    // refresh at 80 % of the token's life (at least 5 s from now)
    const wait = Math.max(5000, (expiresAt.value - Date.now()) * 0.8);
    timer = setTimeout(() => {
      renew().catch(() => expired());
    }, wait);
  }

  function accept(answer: TokenResponse): void {
    access.value = answer.access_token;
    refresh.value = answer.refresh_token ?? null;
    expiresAt.value = Date.now() + answer.expires_in * 1000;
    save();
    schedule();
  }

  async function login(username: string, password: string): Promise<void> {
    accept(await passwordToken(username, password));
  }

  // one refresh at a time: a refresh token is single use, and presenting it twice would end
  // the sign-in (refresh_token_reused)
  let renewing: Promise<void> | null = null;
  function renew(): Promise<void> {
    if (!renewing) {
      const token = refresh.value;
      renewing = (
        token ? refreshToken(token).then(accept) : Promise.reject(new Error("no refresh token"))
      ).finally(() => {
        renewing = null;
      });
    }
    return renewing;
  }

  function clear(): void {
    clearTimeout(timer);
    access.value = refresh.value = null;
    expiresAt.value = 0;
    sessionStorage.removeItem(KEY);
  }

  function expired(): void {
    clear();
    const current = router.currentRoute.value;
    if (current.name !== "login") router.replace({ name: "login", query: { redirect: current.fullPath } });
  }

  async function logout(): Promise<void> {
    const token = refresh.value;
    clear();
    if (token) await revokeToken(token).catch(() => undefined);
    await router.replace({ name: "login" });
  }

  function restore(): void {
    const saved = sessionStorage.getItem(KEY);
    if (!saved) return;
    const data = JSON.parse(saved) as { access: string; refresh: string | null; expiresAt: number };
    access.value = data.access;
    refresh.value = data.refresh;
    expiresAt.value = data.expiresAt;
    schedule();
  }

  function hasRole(...wanted: string[]): boolean {
    return roles.value.some((role) => wanted.includes(role));
  }

  useSession({ accessToken: () => access.value, refresh: renew, expired });
  restore();

  return { access, claims, roles, areas, displayName, signedIn, login, logout, renew, hasRole, expiresAt };
});
