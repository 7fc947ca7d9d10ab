import * as http from "http";
import * as net from "net";

/** What the stand-in answers a statement with: rows of a result, or Trino's refusal. */
export type StandInAnswer = { rows: unknown[][] } | { error: string; errorName?: string };

/**
 * A stand-in for Trino's statement protocol, as trino-client speaks it: the POST queues the
 * statement, and its next URI answers it in one page. It records every statement it was sent.
 */
export interface StandInTrino {
    url: string;
    statements: string[];
    answer: (sql: string) => StandInAnswer;
    close(): Promise<void>;
}

export async function startStandInTrino(answer: (sql: string) => StandInAnswer): Promise<StandInTrino> {
    const queued: string[] = [];
    const standIn: StandInTrino = { url: "", statements: [], answer, close: () => new Promise<void>(resolve => server.close(() => resolve())) };
    const server = http.createServer((request, response) => {
        let body = "";
        request.on("data", chunk => (body += chunk));
        request.on("end", () => {
            response.setHeader("Content-Type", "application/json");
            if (request.method === "POST") {
                standIn.statements.push(body);
                queued.push(body);
                response.end(JSON.stringify({ id: "q", nextUri: `${standIn.url}/v1/statement/queued/${queued.length - 1}`, stats: { state: "QUEUED" } }));
                return;
            }
            const outcome = standIn.answer(queued[Number(request.url!.split("/").pop())]);
            response.end(
                JSON.stringify(
                    "error" in outcome
                        ? { id: "q", error: { message: outcome.error, errorName: outcome.errorName }, stats: { state: "FAILED" } }
                        : { id: "q", columns: (outcome.rows[0] ?? []).map((_, i) => ({ name: `c${i}`, type: "varchar" })), data: outcome.rows, stats: { state: "FINISHED" } },
                ),
            );
        });
    });
    await new Promise<void>(resolve => server.listen(0, "127.0.0.1", resolve));
    standIn.url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
    return standIn;
}
