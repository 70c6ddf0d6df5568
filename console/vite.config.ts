import { fileURLToPath, URL } from "node:url";
import vue from "@vitejs/plugin-vue";
import { defineConfig } from "vite";

// `npm run dev` proxies the API to a running `make run` gateway (GRIDGOV_GATEWAY, default :8000).
const gateway = process.env.GRIDGOV_GATEWAY ?? "http://127.0.0.1:8000";

export default defineConfig({
  plugins: [vue()],
  resolve: { alias: { "@": fileURLToPath(new URL("./src", import.meta.url)) } },
  server: {
    proxy: {
      "/api": gateway,
      "/open311": gateway,
      "/.well-known": gateway,
    },
  },
  build: {
    chunkSizeWarningLimit: 1500,
    rollupOptions: {
      output: {
        manualChunks(id: string) {
          if (id.includes("node_modules/echarts") || id.includes("node_modules/zrender")) return "echarts";
          if (id.includes("node_modules/element-plus")) return "element-plus";
          return undefined;
        },
      },
    },
  },
});
