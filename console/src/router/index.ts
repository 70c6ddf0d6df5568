// Hash routes: the gateway serves only / and /assets/…, so no path needs a server fallback.
import { createRouter, createWebHashHistory } from "vue-router";
import { t } from "@/locales";

const router = createRouter({
  history: createWebHashHistory(),
  routes: [
    {
      path: "/login",
      name: "login",
      component: () => import("@/views/login/index.vue"),
      meta: { public: true },
    },
    {
      path: "/",
      component: () => import("@/layout/AppLayout.vue"),
      redirect: { name: "queue" },
      children: [
        {
          path: "cases",
          name: "queue",
          component: () => import("@/views/cases/queue/index.vue"),
          meta: { title: t.menu.queue },
        },
        {
          path: "cases/:id",
          name: "case",
          component: () => import("@/views/cases/detail/index.vue"),
          meta: { title: t.detail.title },
        },
        {
          path: "cases/:id/mediation",
          name: "mediation",
          component: () => import("@/views/mediation/file/index.vue"),
          meta: { title: t.mediation.file },
        },
        {
          path: "mediation",
          name: "ledger",
          component: () => import("@/views/mediation/ledger/index.vue"),
          meta: { title: t.mediation.ledger },
        },
        {
          path: "map",
          name: "map",
          component: () => import("@/views/map/grids/index.vue"),
          meta: { title: t.menu.map },
        },
        {
          path: "indicators",
          name: "indicators",
          component: () => import("@/views/stats/indicators/index.vue"),
          meta: { title: t.menu.indicators },
        },
      ],
    },
    { path: "/:rest(.*)*", redirect: { name: "queue" } },
  ],
});

router.beforeEach(async (to) => {
  if (to.meta.public) return true;
  const { useAuthStore } = await import("@/stores/auth");
  if (!useAuthStore().signedIn) return { name: "login", query: { redirect: to.fullPath } };
  return true;
});

router.afterEach((to) => {
  const title = typeof to.meta.title === "string" ? `${to.meta.title} - ` : "";
  document.title = `${title}${t.app.title}`;
});

export default router;
