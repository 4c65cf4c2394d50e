// Site A's application server in the demo: a small Java HTTP app on the JDK's own
// com.sun.net.httpserver (no Maven, no Spring), packaged as app.jar by the build. portico
// starts it as `java -jar app.jar --server.port=$PORT`, as site A's Spring Boot jar would be.
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;

public class App {
    public static void main(String[] args) throws Exception {
        int port = 8080;
        for (String a : args)
            if (a.startsWith("--server.port=")) port = Integer.parseInt(a.substring(14));
        HttpServer s = HttpServer.create(new InetSocketAddress("127.0.0.1", port), 128);
        s.createContext("/health", ex -> reply(ex, 200, "UP\n"));
        s.createContext("/", ex -> reply(ex, 200,
                "site A: Java app, pid " + ProcessHandle.current().pid() + ", " +
                ex.getRequestMethod() + " " + ex.getRequestURI() + ", X-Real-IP " +
                ex.getRequestHeaders().getFirst("X-Real-IP") + "\n"));
        s.setExecutor(java.util.concurrent.Executors.newFixedThreadPool(8));
        s.start();
        System.out.println("site A app listening on 127.0.0.1:" + port);
    }

    static void reply(HttpExchange ex, int status, String body) throws IOException {
        byte[] b = body.getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("Content-Type", "text/plain; charset=utf-8");
        ex.sendResponseHeaders(status, b.length);
        ex.getResponseBody().write(b);
        ex.close();
    }
}
