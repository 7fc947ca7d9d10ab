import { Engine } from "../../lib/domains";

/** How each engine's official image is laid out: the same on every container platform. */
export interface EngineImageLayout {
    /** The config key of the pinned image. */
    image: "postgresImage" | "mariadbImage";
    port: number;
    dataDir: string;
    adminUser: string;
    /** The variable the image reads the administrator's password from; `<it>_FILE` names a file instead. */
    adminPasswordEnv: string;
}

export const ENGINE_IMAGES: Record<Engine, EngineImageLayout> = {
    postgresql: { image: "postgresImage", port: 5432, dataDir: "/var/lib/postgresql/data", adminUser: "postgres", adminPasswordEnv: "POSTGRES_PASSWORD" },
    mariadb: { image: "mariadbImage", port: 3306, dataDir: "/var/lib/mysql", adminUser: "root", adminPasswordEnv: "MARIADB_ROOT_PASSWORD" },
};
