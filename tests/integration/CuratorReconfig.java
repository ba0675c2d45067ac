// CuratorReconfig HOSTS SUPER_AUTH CMD...: Apache Curator's reconfig() and
// getConfig() (Debian's libcurator-framework-java), run by test_reconfig.py
// as a single-file source program (java CuratorReconfig.java ...), against
// Roost and against ZooKeeper 3.8.  One line of output per command:
//   get                         getConfig().forEnsemble()
//   leave IDS [FROM]            reconfig().leaving(IDS)[.fromConfig(FROM)]
//   join SPECS [FROM]           reconfig().joining(SPECS)...
//   members SPECS [FROM]        reconfig().withNewMembers(SPECS)...
// SPECS/IDS are comma-separated; FROM is a hex configuration version, or
// "last" (the version of the last configuration printed) or "stale" (the
// one printed before it).  Prints
// "OK <configuration, its lines joined by |>" or "ERR <KeeperException
// code>".
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.api.ConfigureEnsembleable;
import org.apache.curator.retry.RetryNTimes;
import org.apache.zookeeper.KeeperException;

public class CuratorReconfig {
  static long last = -1, before = -1;

  static String text(byte[] b) {
    String t = new String(b, StandardCharsets.UTF_8).trim();
    int v = t.lastIndexOf("version=");
    if (v >= 0) {
      before = last;
      last = Long.parseLong(t.substring(v + 8).trim(), 16);
    }
    return t.replace('\n', '|');
  }

  static byte[] run(CuratorFramework c, String[] a, int i) throws Exception {
    String cmd = a[i];
    if (cmd.equals("get")) {
      return c.getConfig().forEnsemble();
    }
    String[] list = a[i + 1].split(",");
    boolean from = i + 2 < a.length && !isCmd(a[i + 2]);
    long version = !from                    ? -1
                   : a[i + 2].equals("last")  ? last
                   : a[i + 2].equals("stale") ? before
                                              : Long.parseLong(a[i + 2], 16);
    ConfigureEnsembleable b;
    if (cmd.equals("leave"))
      b = c.reconfig().leaving(list);
    else if (cmd.equals("join"))
      b = c.reconfig().joining(list);
    else if (cmd.equals("members"))
      b = c.reconfig().withNewMembers(list);
    else
      throw new IllegalArgumentException("unknown command " + cmd);
    return from ? b.fromConfig(version).forEnsemble() : b.forEnsemble();
  }

  static boolean isCmd(String s) {
    return s.equals("get") || s.equals("leave") || s.equals("join")
        || s.equals("members");
  }

  public static void main(String[] a) throws Exception {
    CuratorFramework c = CuratorFrameworkFactory.builder()
                             .connectString(a[0])
                             .retryPolicy(new RetryNTimes(0, 100))
                             .authorization("digest",
                                 a[1].getBytes(StandardCharsets.UTF_8))
                             .ensembleTracker(false)
                             .build();
    c.start();
    if (!c.blockUntilConnected(60, TimeUnit.SECONDS)) {
      System.out.println("FAIL no connection");
      System.exit(1);
    }
    for (int i = 2; i < a.length; i++) {
      if (!isCmd(a[i]))
        continue;
      try {
        System.out.println("OK " + text(run(c, a, i)));
      } catch (KeeperException e) {
        System.out.println("ERR " + e.code());
      }
      System.out.flush();
    }
    c.close();
  }
}
